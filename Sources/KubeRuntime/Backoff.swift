/// Exponential backoff with jitter, as a value: `next(random:)` returns the delay before the next
/// attempt and grows it; `reset()` starts over. Randomness is passed in, so tests are exact.
public struct ExponentialBackoff: Sendable, Hashable {
    public var initial: Double
    public var maximum: Double
    public var factor: Double
    /// Fraction of the delay added at random: a delay `d` becomes `d * (1 + jitter * random)`.
    public var jitter: Double
    /// Attempts since the last reset.
    public private(set) var attempts = 0

    public init(initial: Double = 0.8, maximum: Double = 30, factor: Double = 2, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
    }

    /// The next delay; `random` is in [0, 1). The result never exceeds `maximum`.
    public mutating func next(random: Double) -> Double {
        var base = initial
        // Multiply step by step so a long outage cannot overflow `pow`.
        for _ in 0..<attempts where base < maximum { base *= factor }
        attempts += 1
        let jittered = min(base, maximum) * (1 + jitter * min(max(random, 0), 1))
        return min(jittered, maximum)
    }

    public mutating func reset() { attempts = 0 }
}

/// A token bucket (golang.org/x/time/rate semantics for `Reserve`): `rate` tokens per second up
/// to `burst`; each reservation takes one token, possibly going into debt, and says how long the
/// caller must wait for it.
public struct TokenBucket: Sendable, Hashable {
    public var rate: Double
    public var burst: Double
    public private(set) var tokens: Double
    private var last: Double?

    public init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(max(1, burst))
        self.tokens = Double(max(1, burst))
    }

    private mutating func refill(now: Double) {
        if let last, now > last, rate > 0 {
            tokens = min(burst, tokens + (now - last) * rate)
        }
        if last == nil || now > (last ?? now) { last = now }
    }

    /// Takes a token and returns the seconds until it is really available (0 when one was there).
    public mutating func reserve(now: Double) -> Double {
        refill(now: now)
        tokens -= 1
        guard tokens < 0 else { return 0 }
        return rate > 0 ? -tokens / rate : .infinity
    }

    /// Takes a token only when one is available now; false otherwise (no debt).
    public mutating func tryTake(now: Double) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Seconds until a whole token is available (0 when one is).
    public mutating func timeUntilAvailable(now: Double) -> Double {
        refill(now: now)
        guard tokens < 1 else { return 0 }
        return rate > 0 ? (1 - tokens) / rate : .infinity
    }
}
