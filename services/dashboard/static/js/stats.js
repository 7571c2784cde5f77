// harness/stats.percentiles in the browser, so the page and the benchmarks report the same figure.

// Python's round(x, 1): the exact binary value is rounded, a tie to the even tenth. toFixed also
// rounds the exact value but breaks ties upwards; an exact tie is an odd number of quarters.
function roundToTenth(x) {
  const quarters = x * 4;
  if (Number.isInteger(quarters) && quarters % 2 !== 0) {
    const tenths = Math.floor(x * 10);
    return (tenths % 2 === 0 ? tenths : tenths + 1) / 10;
  }
  return Number(x.toFixed(1));
}

// {p50, p95, p99} rounded to 0.1, interpolated between the two nearest samples: the arithmetic
// of statistics.quantiles(method="inclusive"), step for step. No samples give 0.
export function percentiles(samples, points = [50, 95, 99]) {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length < 2) {
    const only = sorted.length ? roundToTenth(sorted[0]) : 0;
    return Object.fromEntries(points.map((point) => [`p${point}`, only]));
  }
  const m = sorted.length - 1;
  return Object.fromEntries(points.map((point) => {
    const j = Math.floor((point * m) / 100);
    const delta = point * m - j * 100;
    return [`p${point}`, roundToTenth((sorted[j] * (100 - delta) + sorted[j + 1] * delta) / 100)];
  }));
}
