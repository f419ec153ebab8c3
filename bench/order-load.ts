/** The order-placing load's tables and values, shared by the lag rows (run.ts) and the apply-groups row. */

/** A shop placing orders: each order a TOAST-sized note and JSON, 1–4 lines, a stock update and an inventory event per line. */
export const ordersDdl = [
  `CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL, total numeric(12,2) NOT NULL, status text NOT NULL, note text NOT NULL,
     meta jsonb NOT NULL, created timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE order_lines (order_id bigint NOT NULL, line int NOT NULL, sku int NOT NULL, qty int NOT NULL, price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, line))`,
  `CREATE TABLE stock (sku int PRIMARY KEY, qty int NOT NULL, updated timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE inventory_events (id bigserial PRIMARY KEY, sku int NOT NULL, delta int NOT NULL, order_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE markers (id bigint PRIMARY KEY, sent_at timestamptz NOT NULL)`,
];
export const ORDER_TABLES = ['orders', 'order_lines', 'stock', 'inventory_events', 'markers'];

/** 2–6 kB of text that does not compress to nothing (TOAST stores it out of line either way). */
export const noteOf = (n: number) => {
  let s = '';
  for (let i = 0; s.length < 2_000 + ((n * 7919) % 4_000); i++) s += `line ${i} of order note ${n}: ${((n * 2654435761 + i * 40503) >>> 0).toString(36)}; `;
  return s;
};

/** Order n of writer w: its JSON. */
export const orderMeta = (w: number, n: number, lines: number) =>
  JSON.stringify({ channel: n % 3 ? 'web' : 'app', items: lines, tags: ['w' + w, 'n' + (n % 17)], address: { city: 'city ' + (n % 101), zip: String(10_000 + (n % 89_999)) } });

/** The stock item line l of order n (writer w) draws from, one of 2,000. */
export const skuOf = (w: number, n: number, l: number) => 1 + ((n * 31 + l * 7 + w * 101) % 2000);
