// What this browser session has been sent: filled by the live feed, read by every view of it.
export const session = {
  orders: new Map(), // order id → its card, as the server merged it
  items: [], // the event stream, oldest first
  placed: [], // chart points: when each order was placed (epoch ms)
  endToEnd: [], // chart points: [notified at, ms since placed]
};

// The operator token (OPERATOR_TOKEN, printed by `make run`): asked for once, kept for this tab.
const OPERATOR_TOKEN_KEY = "operator-token";
export const operatorToken = {
  get: () => sessionStorage.getItem(OPERATOR_TOKEN_KEY),
  set: (token) => sessionStorage.setItem(OPERATOR_TOKEN_KEY, token),
  forget: () => sessionStorage.removeItem(OPERATOR_TOKEN_KEY),
};
