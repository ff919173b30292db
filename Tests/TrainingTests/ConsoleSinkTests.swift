import Testing

@testable import Training

struct ConsoleSinkTests {
    /// The ETA is the rate since the first progress line times the steps left: a run resumed at
    /// step 40,000 and logging every 500 steps printed 348 h on its first line (40,500 of 100,000:
    /// its set-up and 500 steps counted as one step), 1h23m on its second.
    @Test func etaIsTheRateSinceTheFirstLine() throws {
        #expect(ConsoleSink.eta(from: 40_500, at: 40_500, of: 100_000, seconds: 0) == nil)
        let eta = try #require(ConsoleSink.eta(from: 40_500, at: 41_000, of: 100_000, seconds: 21))
        #expect(abs(eta - 21.0 / 500 * 59_000) < 1e-9)
        #expect(ConsoleSink.eta(from: 500, at: 1_000, of: 1_000, seconds: 10) == nil)
        #expect(ConsoleSink.eta(from: 0, at: 250, of: 1_000, seconds: 5) == 15)
    }
}
