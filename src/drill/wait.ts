/** Waiting on conditions, the drill's only way to wait: a probe asked again until it answers or a deadline passes. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Asks `probe` every 250 ms until it answers (not undefined) or `deadlineMs` passed; a probe that throws counts as no answer. */
export async function until<T>(deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) return undefined;
    await sleep(250);
  }
}
