import Foundation
import KubesnapAPI
import Testing

@testable import Kubesnap

/// `ScheduleTimes.due`, pure: the latest due time and how many, by arithmetic for `@every` and
/// by a bounded walk for calendar schedules (a long outage of a per-minute schedule).
@Suite struct ScheduleTimesTests {
    static let utc = TimeZone(identifier: "UTC")!
    static func time(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test func everyIsCountedByArithmetic() throws {
        let cron = try CronSchedule(parsing: "@every 1m")
        let due = try #require(
            ScheduleTimes.due(
                cron, from: Self.time("2026-12-06T10:01:00Z"), through: Self.time("2026-12-06T10:10:30Z"),
                zone: Self.utc))
        #expect(due.latest == Self.time("2026-12-06T10:10:00Z"))
        #expect(due.count == 10)
        // A year of a 1 s interval, counted without walking it.
        let fast = try CronSchedule(parsing: "@every 1s")
        let year = try #require(
            ScheduleTimes.due(
                fast, from: Self.time("2026-01-01T00:00:00Z"), through: Self.time("2027-01-01T00:00:00Z"),
                zone: Self.utc))
        #expect(year.count == 365 * 86_400 + 1)
        #expect(
            ScheduleTimes.due(
                cron, from: Self.time("2026-12-06T10:01:00Z"), through: Self.time("2026-12-06T10:00:59Z"),
                zone: Self.utc) == nil)
    }

    @Test func calendarWalksAndFindsTheLatestPastTheWalkLimit() throws {
        let cron = try CronSchedule(parsing: "*/5 * * * *")
        let from = Self.time("2026-12-06T10:05:00Z")
        let short = try #require(
            ScheduleTimes.due(cron, from: from, through: Self.time("2026-12-06T11:02:00Z"), zone: Self.utc))
        #expect(short.latest == Self.time("2026-12-06T11:00:00Z"))
        #expect(short.count == 12)
        // 30 days of every 5 minutes: 8640 times; with a walk limit of 100 the count is a lower
        // bound, the latest is still exact.
        let long = try #require(
            ScheduleTimes.due(
                cron, from: from, through: Self.time("2027-01-05T10:07:00Z"), zone: Self.utc, walkLimit: 100))
        #expect(long.latest == Self.time("2027-01-05T10:05:00Z"))
        #expect(long.count >= 100)
        let exact = try #require(
            ScheduleTimes.due(cron, from: from, through: Self.time("2027-01-05T10:07:00Z"), zone: Self.utc))
        #expect(exact.count == 30 * 288 + 1)
    }

    @Test func retentionStatusMovesOnlyWhenTheOutcomeChanges() {
        let first = RetentionOutcome(
            kept: 3, deletedNow: 1, wouldDelete: nil, now: Self.time("2026-12-06T10:00:00Z"))
        let status = first.status(after: nil)
        #expect(status.kept == 3 && status.deleted == 1 && status.lastAppliedTime == "2026-12-06T10:00:00Z")
        let same = RetentionOutcome(
            kept: 3, deletedNow: 0, wouldDelete: nil, now: Self.time("2026-12-06T11:00:00Z"))
        #expect(same.status(after: status) == status, "an unchanged outcome must not be written again")
        let more = RetentionOutcome(
            kept: 3, deletedNow: 2, wouldDelete: nil, now: Self.time("2026-12-06T12:00:00Z"))
        #expect(more.status(after: status).deleted == 3)
        #expect(more.status(after: status).lastAppliedTime == "2026-12-06T12:00:00Z")
    }
}
