// How long a proposal is still valid, in words (proposals are valid for 30 days from issue).
const DAY_MS = 86_400_000;

export function validityText(validUntil: Date | undefined, now: Date): string {
  if (!validUntil) return "";
  const days = Math.ceil((validUntil.getTime() - now.getTime()) / DAY_MS);
  if (days < 0) return "(expired)";
  if (days === 0) return "(expires today)";
  return days === 1 ? "(1 day left)" : `(${days} days left)`;
}
