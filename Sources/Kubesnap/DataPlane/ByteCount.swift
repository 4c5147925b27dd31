import Foundation

/// Bytes for people, the way `kubectl` users expect: "2.8 MiB".
enum ByteCount {
    static func human(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(max(0, bytes))
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(Int64(value)) B" }
        return String(format: "%.1f", value) + " " + units[unit]
    }
}
