// k6 reference line of bench/inprocess_vs_cli.py: the same load as bench/locustfile_trivial.py
// (GET / with no wait), constant-vus, so k6's generator cost per request can be set beside
// the plugin's and Locust's.
//
// Environment (k6 -e):
//   BASE_URL  http://127.0.0.1:PORT (the bench only ever passes 127.0.0.1)
//   VUS       constant-vus virtual users (the bench's --users)
//   DURATION  e.g. 10s, 120s
//   SUMMARY   path of the JSON summary written by handleSummary
import http from 'k6/http';

export const options = {
  scenarios: {
    main: {
      executor: 'constant-vus',
      vus: parseInt(__ENV.VUS || '20', 10),
      duration: __ENV.DURATION || '10s',
      gracefulStop: '5s',
    },
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  http.get(`${__ENV.BASE_URL}/`, { timeout: '10s' });
}

export function handleSummary(data) {
  const out = {};
  if (__ENV.SUMMARY) {
    out[__ENV.SUMMARY] = JSON.stringify(data);
  }
  return out;
}
