import type { Direction } from '../model/direction.js';
import type { CaptureSource, ShadowWriter, VerifyReader, VerifyReaderOptions } from './engine.js';
import { engineOf } from './open.js';
import { PgCapture } from './postgres/capture.js';
import { PgShadowWriter } from './postgres/shadow.js';
import { MysqlShadowWriter } from './mysql/shadow.js';
import { MysqlCapture } from './mysql/capture.js';
import type { ValuePolicy } from './mysql/binlog-values.js';
import { PgVerifyReader } from './postgres/verify-reader.js';
import { MysqlVerifyReader } from './mysql/verify-reader.js';

/**
 * `tables`: the replicated tables (MySQL's binlog carries every table; PostgreSQL's publication is set in prepare).
 * `shadowUrl` + `zeroDates`: what a MySQL source does with zero dates (config values.zeroDates); they are kept as
 * they are when the shadow is MySQL/MariaDB too, which holds them.
 */
export function openCaptureSource(url: string, migration: string, tables?: string[], values?: { shadowUrl: string; zeroDates: 'refuse' | 'null' }): CaptureSource {
  if (engineOf(url) === 'postgres') return new PgCapture(url, migration);
  const policy: ValuePolicy = { zeroDates: !values ? 'refuse' : engineOf(values.shadowUrl) === 'mysql' ? 'keep' : values.zeroDates };
  return new MysqlCapture(url, migration, tables, policy);
}

export function openShadowWriter(url: string, migration: string, direction: Direction, maxRows: number): Promise<ShadowWriter> {
  return engineOf(url) === 'postgres' ? PgShadowWriter.open(url, migration, direction, maxRows) : MysqlShadowWriter.open(url, migration, direction, maxRows);
}

/** One side's reader for verification; `opts` describe the other side (see VerifyReaderOptions). */
export function openVerifyReader(url: string, opts: VerifyReaderOptions): Promise<VerifyReader> {
  return engineOf(url) === 'postgres' ? PgVerifyReader.open(url, opts) : MysqlVerifyReader.open(url, opts);
}
