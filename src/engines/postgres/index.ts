/** The PostgreSQL engine module: everything the layers above may use of PostgreSQL, in one object. */
import { redactUrl } from '../../config/redact.js';
import type { EngineModule } from '../engine.js';
import { mappingErrors } from '../shared/map-errors.js';
import { PgCapture } from './capture.js';
import { PostgresDatabase } from './database.js';
import { openPgSchemaSide, postgresDialect } from './ddl.js';
import { mapPgError } from './errors.js';
import { compareLsn } from './lsn.js';
import { postgresNativeTypes } from './native-types.js';
import { PgShadowWriter } from './shadow.js';
import { PgSwitchSide } from './fence.js';
import { PgStateBackend } from './state.js';
import { removePgTandemObjects } from './teardown.js';
import { PgVerifyReader } from './verify-reader.js';

const at = (url: string) => `PostgreSQL at ${redactUrl(url)}`;

export const postgresEngine: EngineModule = {
  kind: 'postgres',
  label: 'PostgreSQL',
  urlSchemes: ['postgres', 'postgresql'],
  // pgoutput leaves generated columns out (PostgreSQL 18 adds publish_generated_columns; 15 is what Tandem supports).
  captureSendsGeneratedColumns: false,
  comparePositions: compareLsn,
  dialect: postgresDialect,
  nativeTypes: postgresNativeTypes,
  openDatabase: async (side, url) => mappingErrors(await PostgresDatabase.open(side, url), mapPgError, `${side} side (${at(url)})`),
  captureSource: (opts) => mappingErrors(new PgCapture(opts.url, opts.migration, opts.side), mapPgError, `capture from ${at(opts.url)}`),
  openShadowWriter: async (opts) => mappingErrors(await PgShadowWriter.open(opts), mapPgError, `shadow ${at(opts.url)}`),
  openVerifyReader: async (url, opts) => mappingErrors(await PgVerifyReader.open(url, opts), mapPgError, `verification of ${at(url)}`),
  openSchemaSide: async (side, url) => mappingErrors(await openPgSchemaSide(side, url), mapPgError, `${side} side (${at(url)})`),
  openStateBackend: async (url) => mappingErrors(await PgStateBackend.open(url), mapPgError, `state store on ${at(url)}`),
  openSwitchSide: async (url) => mappingErrors(await PgSwitchSide.open(url), mapPgError, `switch on ${at(url)}`),
  removeTandemObjects: (url, migration) => removePgTandemObjects(url, migration).catch((err: unknown) => Promise.reject(mapPgError(err, `teardown on ${at(url)}`))),
  mapError: mapPgError,
};
