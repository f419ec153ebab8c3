import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.js';

/** The config named by the global --config option (or TANDEM_CONFIG, or ./tandem.yaml). */
export function loadCliConfig(cmd: Command): LoadedConfig {
  const globals = cmd.optsWithGlobals<{ config?: string }>();
  return loadConfig(globals.config);
}
