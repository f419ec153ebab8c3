/**
 * The router's errors: the same shape as Tandem's (code, message, fix), without importing Tandem's error module —
 * an application that imports `tandem/router` gets the router and the model, nothing else.
 */
export type RouterErrorCode = 'TANDEM_ROUTER_HOLD_TIMEOUT' | 'TANDEM_ROUTER_NO_ACTIVE_SIDE' | 'TANDEM_ROUTER_CLOSED' | 'TANDEM_ROUTER_CONFIG';

export class RouterError extends Error {
  constructor(
    readonly code: RouterErrorCode,
    message: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = 'RouterError';
  }
}
