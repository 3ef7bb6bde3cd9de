// A trend line small enough for a hundred panels at once: plain SVG, no chart library.
export function Sparkline({ values, width = 160, height = 36 }: { values: (number | undefined)[]; width?: number; height?: number }) {
  const points = values
    .map((v, i) => (v === undefined ? undefined : ([i, v] as const)))
    .filter((p): p is readonly [number, number] => p !== undefined);
  if (points.length < 2) return <svg className="sparkline" width={width} height={height} aria-hidden="true" />;
  const ys = points.map(([, y]) => y);
  const min = Math.min(...ys);
  const span = Math.max(...ys) - min || 1;
  const last = Math.max(values.length - 1, 1);
  const path = points
    .map(([x, y], i) => `${i === 0 ? "M" : "L"}${((x / last) * (width - 2) + 1).toFixed(1)},${(height - 2 - ((y - min) / span) * (height - 4)).toFixed(1)}`)
    .join(" ");
  return (
    <svg className="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true">
      <path d={path} fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}
