/** A small shop schema in both engines' dialects, the shape of the databases Tandem migrates. */
export const shopPostgres = [
  `CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name varchar(100), created_at timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id), total numeric(12,2) NOT NULL, paid boolean NOT NULL DEFAULT false, placed_at timestamp(6) NOT NULL)`,
  `CREATE TABLE order_items (order_id bigint NOT NULL REFERENCES orders(id), line_no integer NOT NULL, sku varchar(40) NOT NULL, qty integer NOT NULL, attrs jsonb, PRIMARY KEY (order_id, line_no))`,
];

export const shopMysql = [
  `CREATE TABLE customers (id bigint PRIMARY KEY, email longtext NOT NULL, name varchar(100), created_at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
  `CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, total decimal(12,2) NOT NULL, paid tinyint(1) NOT NULL DEFAULT 0, placed_at datetime(6) NOT NULL)`,
  `CREATE TABLE order_items (order_id bigint NOT NULL, line_no int NOT NULL, sku varchar(40) NOT NULL, qty int NOT NULL, attrs json, PRIMARY KEY (order_id, line_no))`,
];

export const shopTables = ['customers', 'orders', 'order_items'];
