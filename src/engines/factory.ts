import { TandemError } from '../errors.js';
import type { Direction } from '../model/direction.js';
import type { CaptureSource, ShadowWriter } from './engine.js';
import { engineOf } from './open.js';
import { PgCapture } from './postgres/capture.js';
import { PgShadowWriter } from './postgres/shadow.js';
import { MysqlShadowWriter } from './mysql/shadow.js';

export function openCaptureSource(url: string, migration: string): CaptureSource {
  if (engineOf(url) === 'postgres') return new PgCapture(url, migration);
  throw new TandemError('TANDEM_USAGE', 'capture from MySQL/MariaDB is not available in this version of Tandem', {
    fix: 'use a PostgreSQL active side for now; MySQL/MariaDB capture is being built',
  });
}

export function openShadowWriter(url: string, migration: string, direction: Direction, maxRows: number): Promise<ShadowWriter> {
  return engineOf(url) === 'postgres' ? PgShadowWriter.open(url, migration, direction, maxRows) : MysqlShadowWriter.open(url, migration, direction, maxRows);
}
