// Number formats and threshold states of the wallboard (the same rules are documented in
// docs/wallboard.md and mirrored by the browser tests).
"use strict";

const NO_VALUE = "–";

/** A count: the integer, or "–" for no value. */
function fmtCount(value) {
  return value === null || value === undefined ? NO_VALUE : String(Math.round(value));
}

/** A ratio 0–1 as a whole percentage. */
function fmtPercent(value) {
  return value === null || value === undefined ? NO_VALUE : `${Math.round(value * 100)}%`;
}

/** Seconds as "45s", "1:23" (m:ss) or "1:02:03" (h:mm:ss), whole seconds rounded down. */
function fmtDuration(value) {
  if (value === null || value === undefined) return NO_VALUE;
  const total = Math.max(0, Math.floor(value));
  if (total < 60) return `${total}s`;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/**
 * "ok", "amber" or "red" for a value against a threshold {amber, red, bad_when}; "novalue"
 * for a figure without a value ("–": nothing to compare). "above": at or over the level is a breach; "below": under it.
 * A service-level threshold without levels takes them from the queue's target.
 */
function thresholdState(value, threshold, target) {
  if (value === null || value === undefined) return "novalue";
  if (!threshold) return "ok";
  let { amber, red } = threshold;
  if (amber === null && red === null && target !== null && target !== undefined) {
    amber = target;
    red = target - 0.10;
  }
  const beyond = (level) => level !== null && level !== undefined &&
    (threshold.bad_when === "above" ? value >= level : value < level);
  if (beyond(red)) return "red";
  if (beyond(amber)) return "amber";
  return "ok";
}

/** Clock time of an epoch-ms instant in the browser's zone, "10:07:31". */
function fmtClock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** The local date ("2026-03-10") of an instant in an IANA zone. */
function localDate(ms, timeZone) {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit",
      day: "2-digit" }).format(new Date(ms));
  } catch (e) {
    return new Date(ms).toISOString().slice(0, 10);
  }
}
