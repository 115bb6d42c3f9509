// Asserting typed failures: the code of the TrailError a call throws (and that it throws nothing
// else), or undefined when it succeeds.
import { expect } from "vitest";
import { isTrailError, type TrailErrorCode } from "../../src/core/errors.ts";

export function errorCode(f: () => unknown): TrailErrorCode | undefined {
  try {
    f();
  } catch (e) {
    expect(isTrailError(e), String(e)).toBe(true);
    return (e as { code: TrailErrorCode }).code;
  }
  return undefined;
}

/** True when `f` throws a TrailError; false when it succeeds (anything else fails the test). */
export const throwsTrail = (f: () => unknown): boolean => errorCode(f) !== undefined;
