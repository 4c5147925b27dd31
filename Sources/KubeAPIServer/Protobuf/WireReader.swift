/// Reads protobuf wire format within a range of a byte array, checking every length and varint
/// against the range so that truncated or hostile input is an error, never a crash.
struct WireReader {
    let bytes: [UInt8]
    var position: Int
    let end: Int

    init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    var atEnd: Bool { position >= end }

    mutating func varint(in message: String) throws(ProtobufError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ProtobufError(message: "\(message): truncated varint") }
            let b = bytes[position]
            position += 1
            guard shift < 64 else { throw ProtobufError(message: "\(message): varint longer than 10 bytes") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A field's tag: its number and wire type.
    mutating func tag(in message: String) throws(ProtobufError) -> (Int, Int) {
        let key = try varint(in: message)
        let number = key >> 3
        guard number > 0, number <= 536_870_911 else { throw ProtobufError(message: "\(message): invalid field number \(number)") }
        return (Int(number), Int(key & 7))
    }

    mutating func fixed(_ size: Int, in message: String) throws(ProtobufError) -> UInt64 {
        guard end - position >= size else { throw ProtobufError(message: "\(message): truncated fixed\(size * 8) value") }
        var v: UInt64 = 0
        for i in 0..<size { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += size
        return v
    }

    mutating func lengthDelimited(in message: String) throws(ProtobufError) -> Range<Int> {
        let length = try varint(in: message)
        guard length <= UInt64(end - position) else {
            throw ProtobufError(message: "\(message): length \(length) runs past the end of the body (\(end - position) bytes left)")
        }
        let start = position
        position += Int(length)
        return start..<position
    }

    mutating func string(in message: String) throws(ProtobufError) -> String {
        let r = try lengthDelimited(in: message)
        guard let s = String(validating: bytes[r], as: UTF8.self) else { throw ProtobufError(message: "\(message): a string is not valid UTF-8") }
        return s
    }
}
