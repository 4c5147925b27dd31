import Foundation
import KubeJSON

/// Writes benchmark data: files alternating between incompressible (pseudo-random) and
/// compressible (repetitive text with counters) content, plus a directory of small files.
enum DataGenerator {
    /// Writes about `mebibytes` MiB under `directory`; returns the number of files.
    @discardableResult
    static func write(
        mebibytes: Int, into directory: String, fileSize: Int = 4 << 20, seed: UInt64 = 0x6b75_6265_736e_6170
    )
        throws -> Int
    {
        try FileManager.default.createDirectory(
            atPath: directory + "/small", withIntermediateDirectories: true)
        var generator = SplitMix64(seed: seed)
        let total = mebibytes << 20
        var written = 0
        var files = 0
        // 2% of the data as 4 KiB files (many small files are part of any real tree).
        let smallBytes = total / 50
        let smallSize = 4096
        while written < smallBytes {
            let data =
                files % 2 == 0
                ? generator.randomBytes(smallSize) : compressible(smallSize, seed: UInt64(files))
            try data.write(to: URL(fileURLWithPath: "\(directory)/small/f\(files).bin"))
            written += smallSize
            files += 1
        }
        var index = 0
        while written < total {
            let size = min(fileSize, total - written)
            let data = index % 2 == 0 ? generator.randomBytes(size) : compressible(size, seed: UInt64(index))
            try data.write(
                to: URL(fileURLWithPath: "\(directory)/file-\(index).\(index % 2 == 0 ? "bin" : "txt")"))
            written += size
            index += 1
            files += 1
        }
        return files
    }

    /// Log-like text: compresses well, but is not one repeated byte.
    static func compressible(_ size: Int, seed: UInt64) -> Data {
        var bytes = [UInt8]()
        bytes.reserveCapacity(size + 128)
        var line = 0
        while bytes.count < size {
            let text =
                "2026-11-22T10:\(line % 60):\(line % 37)Z level=info component=kubesnap seed=\(seed) line=\(line) message=\"snapshot data for the benchmark\"\n"
            bytes.append(contentsOf: text.utf8)
            line += 1
        }
        return Data(bytes.prefix(size))
    }
}

/// Incompressible data from the seeded generator.
extension SplitMix64 {
    mutating func randomBytes(_ count: Int) -> Data {
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        for index in words.indices { words[index] = next() }
        return words.withUnsafeBytes { Data($0.prefix(count)) }
    }
}
