/**
 * `npm run kafka:up` / `npm run kafka:down [-- --wipe]`: the local Kafka stack of deploy/kafka (scripts/kafka-stack.ts).
 */
import { kafkaDown, kafkaUp } from './kafka-stack.js';

const [command, ...rest] = process.argv.slice(2);
const log = (line: string) => console.log(line);
try {
  if (command === 'up') await kafkaUp(log);
  else if (command === 'down') await kafkaDown(log, { wipe: rest.includes('--wipe') });
  else {
    console.error('usage: node dist/scripts/kafka.js up|down [--wipe]');
    process.exitCode = 2;
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}
