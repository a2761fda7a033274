import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatBandwidth,
  formatDuration,
  formatProbability,
  formatSize,
  MAX_DURATION_MS,
  parseBandwidth,
  parseDuration,
  parsePercent,
  parseProbability,
  parseSize,
  UnitError,
} from "../../src/units.js";

/** Asserts `fn` throws a UnitError whose message contains every fragment. */
function throwsUnit(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UnitError, `expected a UnitError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

test("durations: every unit, bare numbers are ms", () => {
  assert.equal(parseDuration("250us"), 0.25);
  assert.equal(parseDuration("20ms"), 20);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("150"), 150);
  assert.equal(parseDuration(150), 150);
  assert.equal(parseDuration(0.5), 0.5);
  assert.equal(parseDuration(".5s"), 500);
  assert.equal(parseDuration("1e3ms"), 1000);
  assert.equal(parseDuration(" 20 ms "), 20);
});

test("durations: the 24 day ceiling", () => {
  assert.equal(parseDuration(MAX_DURATION_MS), MAX_DURATION_MS);
  assert.equal(parseDuration("576h"), 576 * 3_600_000); // exactly 24 days
  throwsUnit(() => parseDuration("577h"), "24 days", '"577h"');
  throwsUnit(() => parseDuration(MAX_DURATION_MS + 1), "24 days");
});

test("durations: errors name the value and what was expected", () => {
  throwsUnit(() => parseDuration("20 parsecs"), "expected a duration like 250us, 20ms, 1.5s, 2m, 1h", 'got "20 parsecs"');
  throwsUnit(() => parseDuration("20MS"), '"20MS"', "case-sensitive", "ms");
  throwsUnit(() => parseDuration("-5ms"), '"-5ms"', "negative");
  throwsUnit(() => parseDuration(-5), "-5", "negative");
  throwsUnit(() => parseDuration(NaN), "NaN");
  throwsUnit(() => parseDuration(Infinity), "Infinity");
  throwsUnit(() => parseDuration(""), 'got ""');
  throwsUnit(() => parseDuration("ms"), 'got "ms"');
  throwsUnit(() => parseDuration("1.5.5s"), '"1.5.5s"');
  throwsUnit(() => parseDuration(true), "got true");
  throwsUnit(() => parseDuration(null), "got null");
  throwsUnit(() => parseDuration({ ms: 5 }), 'got {"ms":5}');
  throwsUnit(() => parseDuration("1d"), 'unknown duration unit "d"');
});

test("bandwidth: bit and byte units, unlimited, bare numbers are bits/s", () => {
  assert.equal(parseBandwidth("400kbps"), 400_000);
  assert.equal(parseBandwidth("1.6Mbps"), 1_600_000);
  assert.equal(parseBandwidth("1Gbps"), 1e9);
  assert.equal(parseBandwidth("300bps"), 300);
  assert.equal(parseBandwidth("100B/s"), 800);
  assert.equal(parseBandwidth("2KB/s"), 16_000);
  assert.equal(parseBandwidth("1MB/s"), 8e6);
  assert.equal(parseBandwidth("1GB/s"), 8e9);
  assert.equal(parseBandwidth("64KiB/s"), 64 * 1024 * 8);
  assert.equal(parseBandwidth("1MiB/s"), 1024 * 1024 * 8);
  assert.equal(parseBandwidth("unlimited"), null);
  assert.equal(parseBandwidth(null), null);
  assert.equal(parseBandwidth(250000), 250000);
  assert.equal(parseBandwidth("250000"), 250000);
});

test("bandwidth: errors", () => {
  throwsUnit(() => parseBandwidth("fast"), "expected a bandwidth like", 'got "fast"');
  throwsUnit(() => parseBandwidth("400Kbps"), "case-sensitive", "kbps");
  throwsUnit(() => parseBandwidth("1mbps"), "case-sensitive", "Mbps");
  throwsUnit(() => parseBandwidth("0kbps"), "above 0", "unlimited");
  throwsUnit(() => parseBandwidth(0), "above 0");
  throwsUnit(() => parseBandwidth(-1), "negative");
  throwsUnit(() => parseBandwidth("Unlimited"), '"Unlimited"');
  throwsUnit(() => parseBandwidth(Infinity), "Infinity");
});

test("sizes: every unit, bare numbers are bytes, whole bytes only", () => {
  assert.equal(parseSize("64B"), 64);
  assert.equal(parseSize("1KB"), 1000);
  assert.equal(parseSize("1.5KB"), 1500);
  assert.equal(parseSize("1MB"), 1e6);
  assert.equal(parseSize("2GB"), 2e9);
  assert.equal(parseSize("16KiB"), 16384);
  assert.equal(parseSize("1MiB"), 1048576);
  assert.equal(parseSize("1GiB"), 1073741824);
  assert.equal(parseSize("0.5KiB"), 512);
  assert.equal(parseSize("1.1KB"), 1100); // 1.1 * 1000 is 1100.0000000000002 in floats
  assert.equal(parseSize(1460), 1460);
  assert.equal(parseSize("1460"), 1460);
  assert.equal(parseSize(0), 0);
  throwsUnit(() => parseSize("1.5B"), "whole number of bytes", '"1.5B"');
  throwsUnit(() => parseSize(10.5), "whole number");
  throwsUnit(() => parseSize("1kb"), "case-sensitive", "KB");
  throwsUnit(() => parseSize("lots"), "expected a size like", 'got "lots"');
  throwsUnit(() => parseSize(-1), "negative");
  throwsUnit(() => parseSize("1e400B"), "not finite");
});

test("probabilities: fractions, percents, exponents", () => {
  assert.equal(parseProbability(0.05), 0.05);
  assert.equal(parseProbability("0.05"), 0.05);
  assert.equal(parseProbability("5%"), 0.05);
  assert.equal(parseProbability("100%"), 1);
  assert.equal(parseProbability("1e-6"), 1e-6);
  assert.equal(parseProbability(1e-6), 1e-6);
  assert.equal(parseProbability(0), 0);
  assert.equal(parseProbability(1), 1);
  throwsUnit(() => parseProbability(5), "above 1", "did you mean 5%?");
  throwsUnit(() => parseProbability("150%"), "above 100%");
  throwsUnit(() => parseProbability("-1%"), "negative");
  throwsUnit(() => parseProbability(-0.1), "negative");
  throwsUnit(() => parseProbability("often"), "expected a probability like 0.05, 5% or 1e-6", 'got "often"');
  throwsUnit(() => parseProbability(NaN), "NaN");
  throwsUnit(() => parseProbability("5 percent"), '"5 percent"');
});

test("percent: 0..100 with or without %", () => {
  assert.equal(parsePercent(50), 50);
  assert.equal(parsePercent("50"), 50);
  assert.equal(parsePercent("12.5%"), 12.5);
  assert.equal(parsePercent(0), 0);
  assert.equal(parsePercent(100), 100);
  throwsUnit(() => parsePercent(101), "above 100");
  throwsUnit(() => parsePercent(-1), "negative");
  throwsUnit(() => parsePercent("half"), "expected a percent", '"half"');
});

test("printing: short human strings", () => {
  assert.equal(formatDuration(0.25), "250us");
  assert.equal(formatDuration(150), "150ms");
  assert.equal(formatDuration(1500), "1.5s");
  assert.equal(formatDuration(61_000), "61s");
  assert.equal(formatDuration(90_000), "1.5m");
  assert.equal(formatDuration(3_600_000), "1h");
  assert.equal(formatDuration(0), "0ms");
  assert.equal(formatBandwidth(400_000), "400kbps");
  assert.equal(formatBandwidth(1_600_000), "1.6Mbps");
  assert.equal(formatBandwidth(1e9), "1Gbps");
  assert.equal(formatBandwidth(300), "300bps");
  assert.equal(formatBandwidth(null), "unlimited");
  assert.equal(formatSize(65536), "64KiB");
  assert.equal(formatSize(1e6), "1MB");
  assert.equal(formatSize(64), "64B");
  assert.equal(formatSize(1536), "1.5KiB");
  assert.equal(formatSize(0), "0B");
  assert.equal(formatProbability(0.05), "5%");
  assert.equal(formatProbability(1e-6), "0.0001%");
});

test("printing round-trips through parsing", () => {
  for (const ms of [0, 0.25, 1, 7, 150, 999, 1000, 1234, 61_000, 90_000, 3_600_000, 5_400_000, MAX_DURATION_MS]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, `duration ${ms} -> ${formatDuration(ms)}`);
  }
  for (const bps of [1, 300, 50_000, 384_000, 1_500_000, 1_600_000, 9e6, 12_345_678, 1e9, 2.5e10]) {
    assert.equal(parseBandwidth(formatBandwidth(bps)), bps, `bandwidth ${bps} -> ${formatBandwidth(bps)}`);
  }
  assert.equal(parseBandwidth(formatBandwidth(null)), null);
  for (const bytes of [0, 1, 64, 1460, 1500, 1536, 65536, 1e6, 1048576, 123_456_789, 1073741824]) {
    assert.equal(parseSize(formatSize(bytes)), bytes, `size ${bytes} -> ${formatSize(bytes)}`);
  }
  for (const p of [0, 1e-6, 0.02, 0.05, 0.333, 1]) {
    assert.ok(Math.abs(parseProbability(formatProbability(p)) - p) < 1e-12, `probability ${p} -> ${formatProbability(p)}`);
  }
});
