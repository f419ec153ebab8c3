/* global process */
// Preloaded into `tandem run` by the crash tests (node --import): ends the process with SIGKILL when the switch
// reaches the step written in the file TANDEM_TEST_CRASH_FILE names (read at every step, so a test arms a running
// service; the file is removed as it fires). Tandem itself never sets this hook (src/control/switch.ts).
import { readFileSync, rmSync } from 'node:fs';

const file = process.env.TANDEM_TEST_CRASH_FILE;
if (file) {
  globalThis[Symbol.for('tandem.test.switchStep')] = (reached) => {
    let armed = '';
    try {
      armed = readFileSync(file, 'utf8').trim();
    } catch {
      return;
    }
    if (armed !== reached) return;
    rmSync(file, { force: true });
    process.kill(process.pid, 'SIGKILL');
  };
}
