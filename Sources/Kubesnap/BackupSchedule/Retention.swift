import Foundation

/// The retention rules of a BackupSchedule (`spec.retention`), in the form the decision needs.
///
/// The keep rules have restic's `forget --keep-*` meaning. `maxAge` is restic's
/// `--keep-within`, measured back from `now` (restic measures from the newest snapshot): a
/// Snapshot younger than maxAge is kept, an older one goes unless a keep rule keeps it. With no
/// keep rule and no maxAge nothing is deleted (restic refuses such a forget too).
public struct RetentionPolicy: Sendable, Hashable {
    public var keepLast = 0
    public var keepHourly = 0
    public var keepDaily = 0
    public var keepWeekly = 0
    public var keepMonthly = 0
    public var keepYearly = 0
    /// Seconds; nil: no age limit.
    public var maxAge: Int64?
    /// The newest failed Snapshots kept for inspection; older failed ones go. Failed Snapshots
    /// never count in the keep rules, so failures never push out good backups.
    public var keepFailed = 1

    public init(
        keepLast: Int = 0, keepHourly: Int = 0, keepDaily: Int = 0, keepWeekly: Int = 0, keepMonthly: Int = 0,
        keepYearly: Int = 0, maxAge: Int64? = nil, keepFailed: Int = 1
    ) {
        self.keepLast = keepLast
        self.keepHourly = keepHourly
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
        self.keepYearly = keepYearly
        self.maxAge = maxAge
        self.keepFailed = keepFailed
    }

    /// Whether any rule limits the successful Snapshots.
    var limitsSuccessful: Bool {
        keepLast > 0 || keepHourly > 0 || keepDaily > 0 || keepWeekly > 0 || keepMonthly > 0 || keepYearly > 0
            || maxAge != nil
    }
}

/// What retention knows of one Snapshot of one repository.
public struct RetentionCandidate: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        /// Ready; `verified` when its verificationStatus is OK.
        case ready(verified: Bool)
        case failed
        /// Pending, Running, Deleting, or a phase this operator does not know: never deleted.
        case busy
    }

    public var name: String
    /// `status.snapshotTime` (its creation time where the Snapshot has none yet).
    public var time: Date
    public var state: State
    /// Carries the schedule's label (`kubesnap.io/schedule`); others are never touched.
    public var ownedBySchedule: Bool
    /// A RestoreSession reads from it.
    public var inUse: Bool

    public init(name: String, time: Date, state: State, ownedBySchedule: Bool = true, inUse: Bool = false) {
        self.name = name
        self.time = time
        self.state = state
        self.ownedBySchedule = ownedBySchedule
        self.inUse = inUse
    }
}

/// Why a Snapshot is kept (the first reason that applies to it is enough; all are listed).
public enum RetentionReason: String, Sendable, Hashable, CaseIterable {
    case notOwned, busy, inUse, newestVerified, noPolicy
    case last, hourly, daily, weekly, monthly, yearly, withinMaxAge, failedForInspection
}

/// The decision for one repository's Snapshots.
public struct RetentionDecision: Sendable, Hashable {
    /// Kept Snapshots by name, with every reason that keeps each.
    public var keep: [String: Set<RetentionReason>]
    /// Names of the Snapshots to delete, oldest first.
    public var delete: [String]
}

/// The one pure function that decides which Snapshots of one repository retention keeps.
public enum Retention {
    /// Decides keep or delete for every candidate (all of one repository). `zone` is the
    /// schedule's time zone: hourly, daily, weekly (ISO weeks), monthly and yearly buckets are
    /// read on its wall clock.
    ///
    /// Never deleted, whatever the policy: the newest Ready Snapshot with verification OK; a
    /// busy one (Pending, Running, Deleting, unknown); one in use by a RestoreSession; one
    /// without the schedule's label.
    public static func decide(
        _ candidates: [RetentionCandidate], policy: RetentionPolicy, now: Date, zone: TimeZone
    ) -> RetentionDecision {
        var keep: [String: Set<RetentionReason>] = [:]
        func mark(_ name: String, _ reason: RetentionReason) { keep[name, default: []].insert(reason) }
        // Newest first; ties broken by name so that the decision does not depend on input order.
        let ordered = candidates.sorted { ($0.time, $1.name) > ($1.time, $0.name) }

        for candidate in ordered {
            if !candidate.ownedBySchedule { mark(candidate.name, .notOwned) }
            if candidate.state == .busy { mark(candidate.name, .busy) }
            if candidate.inUse { mark(candidate.name, .inUse) }
        }
        if let newest = ordered.first(where: { $0.state == .ready(verified: true) }) {
            mark(newest.name, .newestVerified)
        }

        let owned = ordered.filter { $0.ownedBySchedule }
        let successful = owned.filter { if case .ready = $0.state { return true } else { return false } }
        if policy.limitsSuccessful {
            keepByBuckets(successful, policy: policy, now: now, zone: zone, mark: mark)
        } else {
            for candidate in successful { mark(candidate.name, .noPolicy) }
        }
        for candidate in owned.filter({ $0.state == .failed }).prefix(max(0, policy.keepFailed)) {
            mark(candidate.name, .failedForInspection)
        }

        let delete = ordered.reversed().filter { keep[$0.name] == nil }.map(\.name)
        return RetentionDecision(keep: keep, delete: delete)
    }

    /// restic's bucket walk: newest first, each rule keeps a snapshot whose bucket differs from
    /// the last bucket that rule kept, until the rule's count is spent.
    private static func keepByBuckets(
        _ snapshots: [RetentionCandidate], policy: RetentionPolicy, now: Date, zone: TimeZone,
        mark: (String, RetentionReason) -> Void
    ) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        struct Rule {
            var reason: RetentionReason
            var remaining: Int
            var bucket: (Int, RetentionCandidate) -> Int
            var last: Int?
        }
        func components(_ date: Date) -> DateComponents {
            calendar.dateComponents([.year, .month, .day, .hour], from: date)
        }
        func isoWeek(_ date: Date) -> Int {
            var iso = Calendar(identifier: .iso8601)
            iso.timeZone = zone
            let c = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            return c.yearForWeekOfYear! * 100 + c.weekOfYear!
        }
        var rules = [
            Rule(reason: .last, remaining: policy.keepLast, bucket: { index, _ in index }),
            Rule(reason: .hourly, remaining: policy.keepHourly, bucket: { _, s in
                let c = components(s.time)
                return c.year! * 1_000_000 + c.month! * 10_000 + c.day! * 100 + c.hour!
            }),
            Rule(reason: .daily, remaining: policy.keepDaily, bucket: { _, s in
                let c = components(s.time)
                return c.year! * 10_000 + c.month! * 100 + c.day!
            }),
            Rule(reason: .weekly, remaining: policy.keepWeekly, bucket: { _, s in isoWeek(s.time) }),
            Rule(reason: .monthly, remaining: policy.keepMonthly, bucket: { _, s in
                let c = components(s.time)
                return c.year! * 100 + c.month!
            }),
            Rule(reason: .yearly, remaining: policy.keepYearly, bucket: { _, s in components(s.time).year! }),
        ]
        let oldestKeptByAge = policy.maxAge.map { now.addingTimeInterval(-TimeInterval($0)) }
        for (index, snapshot) in snapshots.enumerated() {
            for ruleIndex in rules.indices where rules[ruleIndex].remaining > 0 {
                let value = rules[ruleIndex].bucket(index, snapshot)
                if value != rules[ruleIndex].last {
                    rules[ruleIndex].last = value
                    rules[ruleIndex].remaining -= 1
                    mark(snapshot.name, rules[ruleIndex].reason)
                }
            }
            if let oldestKeptByAge, snapshot.time > oldestKeptByAge { mark(snapshot.name, .withinMaxAge) }
        }
    }
}
