import type { Direction } from '../model/direction.js';
import type { CaptureSource, ShadowWriter } from './engine.js';
import { engineOf } from './open.js';
import { PgCapture } from './postgres/capture.js';
import { PgShadowWriter } from './postgres/shadow.js';
import { MysqlShadowWriter } from './mysql/shadow.js';
import { MysqlCapture } from './mysql/capture.js';

/** `tables`: the replicated tables (MySQL's binlog carries every table; PostgreSQL's publication is set in prepare). */
export function openCaptureSource(url: string, migration: string, tables?: string[]): CaptureSource {
  if (engineOf(url) === 'postgres') return new PgCapture(url, migration);
  return new MysqlCapture(url, migration, tables);
}

export function openShadowWriter(url: string, migration: string, direction: Direction, maxRows: number): Promise<ShadowWriter> {
  return engineOf(url) === 'postgres' ? PgShadowWriter.open(url, migration, direction, maxRows) : MysqlShadowWriter.open(url, migration, direction, maxRows);
}
