// The current value against its target on a half circle; without a target the scale runs to
// the larger of the value and its recent maximum.
import { formatValue } from "../common/format";

export function Gauge({ value, target, max, unit }: { value?: number; target?: number; max: number; unit: string }) {
  const top = Math.max(max, target ?? 0, value ?? 0, 1e-9) * (unit === "%" ? 1 : 1.1);
  const scale = unit === "%" ? Math.max(100, top) : top;
  const ratio = value === undefined ? 0 : Math.min(Math.max(value / scale, 0), 1);
  const angle = Math.PI * (1 - ratio);
  const x = 60 + 50 * Math.cos(angle);
  const y = 60 - 50 * Math.sin(angle);
  const targetAngle = target === undefined ? undefined : Math.PI * (1 - Math.min(target / scale, 1));
  return (
    <svg className="gauge" viewBox="0 0 120 70" width="100%" height="90" role="img" aria-label={`gauge ${formatValue(value, unit)}`}>
      <path d="M10,60 A50,50 0 0 1 110,60" fill="none" stroke="#e5e7eb" strokeWidth="10" />
      {value !== undefined && (
        <path d={`M10,60 A50,50 0 0 1 ${x.toFixed(2)},${y.toFixed(2)}`} fill="none" stroke="#2563eb" strokeWidth="10" />
      )}
      {targetAngle !== undefined && (
        <line
          x1={60 + 42 * Math.cos(targetAngle)}
          y1={60 - 42 * Math.sin(targetAngle)}
          x2={60 + 58 * Math.cos(targetAngle)}
          y2={60 - 58 * Math.sin(targetAngle)}
          stroke="#dc2626"
          strokeWidth="2"
        />
      )}
      <text x="60" y="58" textAnchor="middle" fontSize="12">
        {formatValue(value, unit)}
      </text>
    </svg>
  );
}
