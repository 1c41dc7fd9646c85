// k6 scenario of bench/fault_matrix.py: the same request as bench/locustfile_faults.py
// (GET /products/{id} of a random seeded product), with thresholds equal to the plugin's.
//
// Environment (k6 -e or the process environment):
//   BASE_URL        http://127.0.0.1:PORT (the bench only ever passes 127.0.0.1)
//   MODE            closed | open
//   VUS             closed: constant-vus virtual users
//   WAIT_S          closed: sleep after each request (the Locust class's constant wait)
//   RATE            open: constant-arrival-rate iterations/s
//   MAX_VUS         open: preAllocatedVUs = maxVUs (the plugin's max_users)
//   DURATION        e.g. 10s
//   P99_MS          threshold on http_req_duration p(99)
//   MAX_ERROR_RATE  threshold on http_req_failed rate
//   REQUEST_TIMEOUT per-request timeout, e.g. 10s (the plugin's request_timeout)
//   PRODUCTS        seeded products (ids 1..N)
//   SUMMARY         path of the JSON summary written by handleSummary
// The open scenario also has dropped_iterations count<=0 (the plugin's max_dropped_rate=0).
// gracefulStop stays k6's default (30 s). Exit code 99: a threshold was crossed.
import http from 'k6/http';
import { sleep } from 'k6';

const mode = __ENV.MODE || 'closed';
const duration = __ENV.DURATION || '10s';
const products = parseInt(__ENV.PRODUCTS || '20', 10);
const waitS = parseFloat(__ENV.WAIT_S || '0.1');
const timeout = __ENV.REQUEST_TIMEOUT || '10s';

const thresholds = {
  http_req_duration: [`p(99)<=${__ENV.P99_MS || '300'}`],
  http_req_failed: [`rate<=${__ENV.MAX_ERROR_RATE || '0.01'}`],
};
let scenario;
if (mode === 'open') {
  const maxVus = parseInt(__ENV.MAX_VUS || '50', 10);
  scenario = {
    executor: 'constant-arrival-rate',
    rate: parseInt(__ENV.RATE || '50', 10),
    timeUnit: '1s',
    duration: duration,
    preAllocatedVUs: maxVus,
    maxVUs: maxVus,
  };
  thresholds.dropped_iterations = ['count<=0'];
} else {
  scenario = { executor: 'constant-vus', vus: parseInt(__ENV.VUS || '5', 10), duration: duration };
}

export const options = {
  scenarios: { main: scenario },
  thresholds: thresholds,
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const id = 1 + Math.floor(Math.random() * products);
  http.get(`${__ENV.BASE_URL}/products/${id}`, {
    timeout: timeout,
    tags: { name: '/products/{product_id}' },
  });
  if (mode !== 'open' && waitS > 0) {
    sleep(waitS);
  }
}

export function handleSummary(data) {
  const out = {};
  if (__ENV.SUMMARY) {
    out[__ENV.SUMMARY] = JSON.stringify(data);
  }
  return out;
}
