/** The MySQL/MariaDB engine module: everything the layers above may use of MySQL and MariaDB, in one object. */
import { redactUrl } from '../../config/redact.js';
import type { EngineModule } from '../engine.js';
import { mappingErrors } from '../shared/map-errors.js';
import { MysqlCapture } from './capture.js';
import { MysqlDatabase } from './database.js';
import { mysqlDialect, openMysqlSchemaSide } from './ddl.js';
import { mapMysqlError } from './errors.js';
import { mysqlNativeTypes } from './native-types.js';
import { comparePositions } from './position.js';
import { MysqlShadowWriter } from './shadow.js';
import { MysqlSwitchSide } from './fence.js';
import { MysqlStateBackend } from './state.js';
import { removeMysqlTandemObjects } from './teardown.js';
import { MysqlVerifyReader } from './verify-reader.js';

const at = (url: string) => `MySQL/MariaDB at ${redactUrl(url)}`;

export const mysqlEngine: EngineModule = {
  kind: 'mysql',
  label: 'MySQL/MariaDB',
  urlSchemes: ['mysql', 'mariadb'],
  // Row images with binlog_row_image=FULL carry every column, generated ones included.
  captureSendsGeneratedColumns: true,
  comparePositions,
  dialect: mysqlDialect,
  nativeTypes: mysqlNativeTypes,
  openDatabase: async (side, url) => mappingErrors(await MysqlDatabase.open(side, url), mapMysqlError, `${side} side (${at(url)})`),
  // A MySQL/MariaDB shadow holds zero dates as they are; a PostgreSQL one gets what values.zeroDates says (H13).
  captureSource: (opts) =>
    mappingErrors(
      new MysqlCapture(opts.url, opts.migration, opts.tables, { zeroDates: opts.shadowEngine === 'mysql' ? 'keep' : (opts.zeroDates ?? 'refuse'), onLossy: opts.onLossyValue }),
      mapMysqlError,
      `capture from ${at(opts.url)}`,
    ),
  openShadowWriter: async (opts) => mappingErrors(await MysqlShadowWriter.open(opts), mapMysqlError, `shadow ${at(opts.url)}`),
  openVerifyReader: async (url, opts) => mappingErrors(await MysqlVerifyReader.open(url, opts), mapMysqlError, `verification of ${at(url)}`),
  openSchemaSide: async (side, url) => mappingErrors(await openMysqlSchemaSide(side, url), mapMysqlError, `${side} side (${at(url)})`),
  openStateBackend: async (url) => mappingErrors(await MysqlStateBackend.open(url), mapMysqlError, `state store on ${at(url)}`),
  openSwitchSide: async (url) => mappingErrors(await MysqlSwitchSide.open(url), mapMysqlError, `switch on ${at(url)}`),
  removeTandemObjects: (url, migration) => removeMysqlTandemObjects(url, migration).catch((err: unknown) => Promise.reject(mapMysqlError(err, `teardown on ${at(url)}`))),
  mapError: mapMysqlError,
};
