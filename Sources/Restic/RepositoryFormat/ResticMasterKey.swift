import CKubeCrypto
import Foundation
import KubeJSON

/// The master key of a restic repository: what encrypts and authenticates every file in it.
///
/// restic's design ("Keys, Encryption and MAC"): every sealed file is IV (16 bytes) ‖
/// AES-256-CTR ciphertext ‖ Poly1305-AES tag (16 bytes) of the ciphertext, with the IV as the
/// nonce. The key comes from restic itself (`restic cat masterkey`), which opens a key file
/// with the password: its scrypt derivation (32 to 64 MiB for a moment) stays in restic's process.
///
/// Held only in memory and never printed: `description` and `dump` say nothing of the bytes.
struct ResticMasterKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let encryption: [UInt8]
    private let macK: [UInt8]
    private let macR: [UInt8]

    private init(encryption: [UInt8], macK: [UInt8], macR: [UInt8]) {
        self.encryption = encryption
        self.macK = macK
        self.macR = macR
    }

    var description: String { "ResticMasterKey(<redacted>)" }
    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: []) }

    /// The master key as `restic cat masterkey` prints it (and a key file's `data` holds it):
    /// `{"mac": {"k": ..., "r": ...}, "encrypt": ...}`, base64. nil for anything else.
    init?(masterKeyJSON bytes: [UInt8]) {
        guard let master = try? JSONValue.parse(bytes),
            let encryption = master["encrypt"].stringValue.flatMap({ Data(base64Encoded: $0) }),
            let k = master["mac"]["k"].stringValue.flatMap({ Data(base64Encoded: $0) }),
            let r = master["mac"]["r"].stringValue.flatMap({ Data(base64Encoded: $0) }),
            encryption.count == 32, k.count == 16, r.count == 16
        else { return nil }
        self.init(encryption: Array(encryption), macK: Array(k), macR: Array(r))
    }

    /// The plaintext of a sealed file; nil when its tag does not match (another key, or damage).
    func open(_ sealed: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 32 else { return nil }
        let nonce = Array(sealed[0..<16])
        let ciphertext = Array(sealed[16..<(sealed.count - 16)])
        guard let expected = tag(of: ciphertext, nonce: nonce) else { return nil }
        // Constant time over the 16 bytes.
        var difference: UInt8 = 0
        for (a, b) in zip(expected, sealed[(sealed.count - 16)...]) { difference |= a ^ b }
        guard difference == 0 else { return nil }
        return crypt(ciphertext, nonce: nonce)
    }

    /// `plaintext` sealed under a fresh random IV, as restic stores a file.
    func seal(_ plaintext: [UInt8]) throws(ResticError) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 16)
        let randomStatus = nonce.withUnsafeMutableBufferPointer { ckc_random($0.baseAddress, 16) }
        guard randomStatus == 0, let ciphertext = crypt(plaintext, nonce: nonce),
            let tag = tag(of: ciphertext, nonce: nonce)
        else { throw .unsupported("sealing a repository file failed (libcrypto)") }
        return nonce + ciphertext + tag
    }

    private func crypt(_ input: [UInt8], nonce: [UInt8]) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: input.count)
        let status = output.withUnsafeMutableBufferPointer { out in
            ckc_aes256_ctr(encryption, nonce, input, UInt(input.count), out.baseAddress)
        }
        return status == 0 ? output : nil
    }

    private func tag(of message: [UInt8], nonce: [UInt8]) -> [UInt8]? {
        var tag = [UInt8](repeating: 0, count: 16)
        let status = tag.withUnsafeMutableBufferPointer { out in
            ckc_poly1305_aes(macK, macR, nonce, message, UInt(message.count), out.baseAddress)
        }
        return status == 0 ? tag : nil
    }

    /// The lowercase hex SHA-256 of `bytes`: the name restic gives a stored file.
    static func storageID(of bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        _ = digest.withUnsafeMutableBufferPointer { ckc_sha256(bytes, UInt(bytes.count), $0.baseAddress) }
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
