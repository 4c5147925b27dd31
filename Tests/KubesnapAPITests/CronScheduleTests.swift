import Foundation
import Testing

@testable import KubesnapAPI

/// An instant from an RFC 3339 string with an offset ("2026-03-29T03:00:00+02:00").
private func at(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    guard let date = formatter.date(from: text) else { fatalError("bad test time \(text)") }
    return date
}

private func zone(_ identifier: String) -> TimeZone {
    guard let zone = TimeZone(identifier: identifier) else { fatalError("no zone \(identifier) in tzdata") }
    return zone
}

private let utc = zone("UTC")

private func next(_ expression: String, after: String, in zoneName: String = "UTC") throws -> Date? {
    try CronSchedule(parsing: expression).next(after: at(after), in: zone(zoneName))
}

@Suite struct CronParsingTests {
    @Test func fieldsRangesListsStepsAndNames() throws {
        guard case .calendar(let f) = try CronSchedule(parsing: "5,10-12,*/20 1-23/11 */10 JAN-mar,Dec MON-FRI").kind else {
            Issue.record("not a calendar schedule")
            return
        }
        #expect(f.minutes == [0, 5, 10, 11, 12, 20, 40])
        #expect(f.hours == [1, 12, 23])
        #expect(f.daysOfMonth == [1, 11, 21, 31])
        #expect(f.months == [1, 2, 3, 12])
        #expect(f.daysOfWeek == [1, 2, 3, 4, 5])
        #expect(f.dayOfMonthStar && !f.dayOfWeekStar)
        guard case .calendar(let g) = try CronSchedule(parsing: "0 0 * * 7").kind, case .calendar(let h) = try CronSchedule(parsing: "0 0 * * sun").kind else {
            Issue.record("not calendar schedules")
            return
        }
        #expect(g.daysOfWeek == [0] && h.daysOfWeek == [0], "7 and SUN are Sunday")
        guard case .calendar(let s) = try CronSchedule(parsing: "10/15 * * * *").kind else { return }
        #expect(s.minutes == [10, 25, 40, 55], "N/step runs from N to the end of the field")
    }

    @Test func macrosAreTheirFields() throws {
        let pairs = [
            ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"), ("@DAILY", "0 0 * * *"),
        ]
        for (macro, fields) in pairs {
            #expect(try CronSchedule(parsing: macro).kind == CronSchedule(parsing: fields).kind, "\(macro)")
        }
    }

    @Test func everyTakesGoDurations() throws {
        #expect(try CronSchedule(parsing: "@every 2s").kind == .every(seconds: 2))
        #expect(try CronSchedule(parsing: "@every 1h30m").kind == .every(seconds: 5400))
        #expect(try CronSchedule(parsing: "@every 1.5h").kind == .every(seconds: 5400))
        #expect(try CronSchedule(parsing: "@every 24h").kind == .every(seconds: 86_400))
    }

    /// Each bad expression and the words its message must hold (the field, what is wrong).
    @Test func badSyntaxNamesTheField() {
        let cases: [(String, [String])] = [
            ("61 * * * *", ["minute field", "61 is out of range 0-59"]),
            ("* 24 * * *", ["hour field", "24 is out of range 0-23"]),
            ("* * 0 * *", ["day-of-month field", "out of range 1-31"]),
            ("* * * 13 *", ["month field", "13 is out of range 1-12"]),
            ("* * * FOO *", ["month field", "\"FOO\"", "JAN"]),
            ("* * * * MON-XYZ", ["day-of-week field", "\"XYZ\"", "SUN"]),
            ("* * * * 8", ["day-of-week field", "out of range 0-7"]),
            ("5-1 * * * *", ["minute field", "backwards"]),
            ("*/0 * * * *", ["minute field", "step"]),
            ("1,,2 * * * *", ["minute field", "empty"]),
            ("* * * *", ["expected 5 fields", "got 4"]),
            ("* * * * * *", ["expected 5 fields", "got 6"]),
            ("@sometimes", ["unknown macro", "@every"]),
            ("@daily 5", ["takes no arguments"]),
            ("@every", ["@every takes one duration"]),
            ("@every 0s", ["at least 1s"]),
            ("@every 10", ["needs a unit"]),
            ("@every 5d", ["unknown unit \"d\""]),
            ("@every 0.5s", ["whole number of seconds"]),
            ("", ["expected 5 fields"]),
        ]
        for (expression, words) in cases {
            do {
                _ = try CronSchedule(parsing: expression)
                Issue.record("\"\(expression)\" parsed")
            } catch {
                for word in words {
                    #expect(error.description.contains(word), "\"\(expression)\": \(error.description) lacks \(word)")
                }
            }
        }
    }

    @Test func durationsForMaxAge() throws {
        #expect(try GoDuration.seconds("90d", units: "smhdw") == 90 * 86_400)
        #expect(try GoDuration.seconds("4w", units: "smhdw") == 4 * 604_800)
        #expect(try GoDuration.seconds("1d12h", units: "smhdw") == 36 * 3600)
        #expect(throws: GoDuration.ParseError.self) { try GoDuration.seconds("4y", units: "smhdw") }
        #expect(throws: GoDuration.ParseError.self) { try GoDuration.seconds("-1h") }
        #expect(throws: GoDuration.ParseError.self) { try GoDuration.seconds("h") }
    }
}

@Suite struct CronNextTests {
    @Test func simpleAndWrapping() throws {
        #expect(try next("*/15 * * * *", after: "2012-07-09T14:45:00Z") == at("2012-07-09T15:00:00Z"))
        #expect(try next("*/15 * * * *", after: "2012-07-09T14:59:59Z") == at("2012-07-09T15:00:00Z"))
        #expect(try next("20-35/15 * * * *", after: "2012-07-09T15:45:00Z") == at("2012-07-09T16:20:00Z"))
        #expect(try next("*/15 * * * *", after: "2012-07-09T23:46:00Z") == at("2012-07-10T00:00:00Z"))
        #expect(try next("0 0 9 Apr-Oct *", after: "2012-07-09T23:35:00Z") == at("2012-08-09T00:00:00Z"))
        #expect(try next("0 0 * Feb Mon", after: "2012-07-09T23:35:00Z") == at("2013-02-04T00:00:00Z"))
        #expect(try next("* * * * *", after: "2012-12-31T23:59:45Z") == at("2013-01-01T00:00:00Z"))
        #expect(try next("0 0 29 Feb *", after: "2012-07-09T23:35:00Z") == at("2016-02-29T00:00:00Z"), "leap day")
        #expect(try next("0 0 30 Feb *", after: "2012-07-09T23:35:00Z") == nil, "never")
        #expect(try next("0 0 31 Apr *", after: "2012-07-09T23:35:00Z") == nil, "never")
        #expect(try next("0 2 * * *", after: "2026-12-06T02:00:00Z") == at("2026-12-07T02:00:00Z"), "strictly after")
    }

    @Test func dayOfMonthOrDayOfWeek() throws {
        // Neither field starts with *: either may match (cron's rule). 2012-07-15 is a Sunday.
        #expect(try next("0 0 1,15 * Sun", after: "2012-07-09T00:00:00Z") == at("2012-07-15T00:00:00Z"))
        #expect(try next("0 0 1,15 * Sun", after: "2012-07-15T00:00:00Z") == at("2012-07-22T00:00:00Z"))
        // One starts with *: both must match.
        #expect(try next("0 0 */10 * Sun", after: "2012-07-09T00:00:00Z") == at("2012-10-21T00:00:00Z"))
        #expect(try next("0 0 * * Mon", after: "2012-07-15T00:00:00Z") == at("2012-07-16T00:00:00Z"))
        #expect(try next("0 0 1,15 * *", after: "2012-07-09T00:00:00Z") == at("2012-07-15T00:00:00Z"))
    }

    @Test func zonesShiftTheWallClock() throws {
        #expect(try next("0 2 * * *", after: "2026-12-06T00:00:00Z", in: "Europe/Berlin") == at("2026-12-06T02:00:00+01:00"))
        #expect(try next("0 2 * * *", after: "2026-07-05T12:00:00Z", in: "Europe/Berlin") == at("2026-07-06T02:00:00+02:00"))
        #expect(try next("0 9 * * MON-FRI", after: "2026-12-05T00:00:00Z", in: "America/New_York") == at("2026-12-07T09:00:00-05:00"))
    }

    @Test func everyIsAlignedToTheEpoch() throws {
        let every = try CronSchedule(parsing: "@every 2s")
        #expect(every.next(after: Date(timeIntervalSince1970: 1001), in: utc) == Date(timeIntervalSince1970: 1002))
        #expect(every.next(after: Date(timeIntervalSince1970: 1002), in: utc) == Date(timeIntervalSince1970: 1004))
        #expect(every.next(after: Date(timeIntervalSince1970: 1002.5), in: utc) == Date(timeIntervalSince1970: 1004))
        let sixHours = try CronSchedule(parsing: "@every 6h")
        #expect(sixHours.next(after: at("2026-12-06T07:00:00Z"), in: zone("Asia/Tokyo")) == at("2026-12-06T12:00:00Z"))
    }

    @Test func timesBetweenCountsMissedRuns() throws {
        let hourly = try CronSchedule(parsing: "@hourly")
        let times = hourly.times(after: at("2026-12-06T00:00:00Z"), through: at("2026-12-06T05:00:00Z"), in: utc, limit: 100)
        #expect(times == (1...5).map { at(String(format: "2026-12-06T%02d:00:00Z", $0)) })
        #expect(hourly.times(after: at("2026-12-06T00:00:00Z"), through: at("2026-12-07T00:00:00Z"), in: utc, limit: 3).count == 3)
    }
}

/// Both DST transitions of 2026 in Europe/Berlin (29 March 02:00 CET -> 03:00 CEST, 25 October
/// 03:00 CEST -> 02:00 CET) and America/New_York (8 March 02:00 EST -> 03:00 EDT, 1 November
/// 02:00 EDT -> 01:00 EST).
@Suite struct CronDSTTests {
    @Test func berlinSpringForwardSkipsTheMissingTime() throws {
        // 02:30 does not exist on 29 March: that day has no run.
        #expect(try next("30 2 * * *", after: "2026-03-28T02:30:00+01:00", in: "Europe/Berlin") == at("2026-03-30T02:30:00+02:00"))
        // 03:00 exists; the clock reaches it one real hour after 01:59 CET's successor.
        #expect(try next("0 3 * * *", after: "2026-03-28T03:00:00+01:00", in: "Europe/Berlin") == at("2026-03-29T03:00:00+02:00"))
        // Every 30 minutes: 01:30 CET, then 03:00 CEST, half an hour later in real time.
        #expect(try next("*/30 * * * *", after: "2026-03-29T01:30:00+01:00", in: "Europe/Berlin") == at("2026-03-29T03:00:00+02:00"))
    }

    @Test func berlinFallBackRunsTheRepeatedTimeOnce() throws {
        let first = try #require(try next("30 2 * * *", after: "2026-10-24T02:30:00+02:00", in: "Europe/Berlin"))
        #expect(first == at("2026-10-25T02:30:00+02:00"), "the first 02:30, in CEST")
        let second = try CronSchedule(parsing: "30 2 * * *").next(after: first, in: zone("Europe/Berlin"))
        #expect(second == at("2026-10-26T02:30:00+01:00"), "not again at 02:30 CET the same night")
        // From inside the repeated hour (02:45 CET, after the first 02:30 has passed): tomorrow.
        #expect(try next("30 2 * * *", after: "2026-10-25T02:15:00+01:00", in: "Europe/Berlin") == at("2026-10-26T02:30:00+01:00"))
        // An every-hour schedule keeps its real-time rhythm through the repeated hour.
        let halfHourly = try CronSchedule(parsing: "*/30 * * * *")
        let runs = halfHourly.times(after: at("2026-10-25T01:30:00+02:00"), through: at("2026-10-25T03:00:00+01:00"), in: zone("Europe/Berlin"), limit: 10)
        #expect(runs == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"].map(at))
    }

    @Test func newYorkBothTransitions() throws {
        #expect(try next("0 2 * * *", after: "2026-03-07T02:00:00-05:00", in: "America/New_York") == at("2026-03-09T02:00:00-04:00"), "2:00 does not exist on 8 March")
        #expect(try next("30 1 * * *", after: "2026-10-31T01:30:00-04:00", in: "America/New_York") == at("2026-11-01T01:30:00-04:00"))
        #expect(try next("30 1 * * *", after: "2026-11-01T01:30:00-04:00", in: "America/New_York") == at("2026-11-02T01:30:00-05:00"), "01:30 EST is the same time again: no second run")
        #expect(try next("@daily", after: "2026-10-31T12:00:00-04:00", in: "America/New_York") == at("2026-11-01T00:00:00-04:00"))
    }

    /// Compares `next` with a brute-force scan of every minute, which reads wall-clock fields from
    /// Foundation's Calendar (not the parser's own date arithmetic) and applies the rules as
    /// stated: a wall time that comes round again fires again only when every hour is scheduled.
    @Test(arguments: ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"])
    func agreesWithAMinuteByMinuteScan(zoneName: String) throws {
        let tz = zone(zoneName)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = tz
        let expressions = ["30 2 * * *", "0 1-3 * * *", "*/20 * * * *", "0,30 2 * * SUN", "15 * 25,29 3,10 *", "0 3 * * 0", "59 1 * * *"]
        // Two days around each 2026 transition of the zone (Lord Howe moves by 30 minutes). A
        // minute-by-minute scan through Foundation's Calendar costs CPU that the suite's
        // operator tests share, so the windows are only as wide as the transitions need.
        let transitions: [String: [(String, String)]] = [
            "Europe/Berlin": [("2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z"), ("2026-10-24T00:00:00Z", "2026-10-26T00:00:00Z")],
            "America/New_York": [("2026-03-07T00:00:00Z", "2026-03-09T00:00:00Z"), ("2026-10-31T00:00:00Z", "2026-11-02T00:00:00Z")],
            "Australia/Lord_Howe": [("2026-04-03T12:00:00Z", "2026-04-05T12:00:00Z"), ("2026-10-02T12:00:00Z", "2026-10-04T12:00:00Z")],
            "UTC": [("2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z")],
        ]
        let windows = transitions[zoneName] ?? []
        #expect(!windows.isEmpty, "no windows for \(zoneName)")
        for expression in expressions {
            let schedule = try CronSchedule(parsing: expression)
            guard case .calendar(let fields) = schedule.kind else { continue }
            for (start, end) in windows {
                var expected: [Date] = []
                var seenWall: Set<DateComponents> = []
                var instant = at(start).addingTimeInterval(60)
                while instant <= at(end) {
                    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: instant)
                    let wall = DateComponents(year: c.year, month: c.month, day: c.day, hour: c.hour, minute: c.minute)
                    let domMatch = fields.daysOfMonth.contains(c.day!)
                    let dowMatch = fields.daysOfWeek.contains(c.weekday! - 1)
                    let dayMatch = fields.dayOfMonthStar || fields.dayOfWeekStar ? domMatch && dowMatch : domMatch || dowMatch
                    if fields.minutes.contains(c.minute!), fields.hours.contains(c.hour!), fields.months.contains(c.month!), dayMatch {
                        if seenWall.insert(wall).inserted || fields.everyHour { expected.append(instant) }
                    }
                    seenWall.insert(wall)
                    instant.addTimeInterval(60)
                }
                let actual = schedule.times(after: at(start), through: at(end), in: tz, limit: 10_000)
                #expect(actual == expected, "\(expression) in \(zoneName), \(start)...\(end)")
            }
        }
    }
}

@Suite struct CronSpecValidationTests {
    @Test func errorsNameTheField() {
        #expect(CronSchedule.specErrors(schedule: "0 2 * * *", timeZone: "Europe/Berlin").isEmpty)
        #expect(CronSchedule.specErrors(schedule: "@every 6h", timeZone: nil).isEmpty)
        let zone = CronSchedule.specErrors(schedule: "0 2 * * *", timeZone: "Mars/Olympus_Mons")
        #expect(zone == ["spec.timeZone: Invalid value: \"Mars/Olympus_Mons\": unknown time zone: use an IANA name such as Europe/Berlin or America/New_York"])
        let syntax = CronSchedule.specErrors(schedule: "0 25 * * *", timeZone: "UTC")
        #expect(syntax == ["spec.schedule: Invalid value: \"0 25 * * *\": hour field: 25 is out of range 0-23"])
        #expect(CronSchedule.specErrors(schedule: "0 0 30 2 *", timeZone: nil).first?.contains("never fires") == true)
        #expect(CronSchedule.specErrors(schedule: "", timeZone: nil) == ["spec.schedule: Required value"])
    }
}
