// SHA-256 against FIPS 180-4 vectors and sha256sum, the RNG's reference sequence, the queue.
import Basics
import Foundation
import Testing

struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func fipsVectors(input: String, expected: String) {
        #expect(SHA256.hex(Array(input.utf8)) == expected)
    }

    @Test func millionA() {
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(chunk) }
        #expect(h.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingEqualsOneShotForEverySplit() {
        var rng = SplitMix64(seed: 1)
        let data = (0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let whole = SHA256.hex(data)
        for cut in [0, 1, 55, 56, 63, 64, 65, 128, 299] {
            var h = SHA256()
            h.update(data[..<cut])
            h.update(data[cut...])
            #expect(h.finalizeHex() == whole)
        }
    }

    /// The SHA extensions' path and the portable one agree on every length around the block and
    /// padding boundaries, fed whole and in uneven pieces (the hardware test is skipped, loudly,
    /// on a CPU without the extensions: then both sides are the portable code).
    @Test func hardwareEqualsPortable() {
        if !SHA256.hardwareAvailable {
            print("SHA256Tests: this CPU has no SHA extensions; only the portable path ran")
        }
        var rng = SplitMix64(seed: 3)
        let data = (0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for length in Array(0...200) + [255, 256, 257, 1000, 4095, 4096, 4097, 5000] {
            var fast = SHA256()
            var slow = SHA256(hardware: false)
            var pieces = SHA256()
            fast.update(data[..<length])
            slow.update(data[..<length])
            var at = 0
            while at < length {
                let n = min(length - at, 1 + Int(rng.next() % 150))
                pieces.update(data[at..<at + n])
                at += n
            }
            let expected = slow.finalizeHex()
            #expect(fast.finalizeHex() == expected, "length \(length)")
            #expect(pieces.finalizeHex() == expected, "length \(length) in pieces")
        }
    }

    @Test func wordsAreTheDigestsBytes() {
        var h = SHA256()
        h.update(Array("abc".utf8))
        let w = h.finalizeWords()
        #expect(w.0 == 0xba78_16bf && w.7 == 0xf200_15ad)
    }

    @Test func fileHashMatchesSha256sum() throws {
        let path = NSTemporaryDirectory() + "sha-\(UUID().uuidString)"
        var rng = SplitMix64(seed: 2)
        try Data((0..<3_000_001).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).write(
            to: URL(fileURLWithPath: path))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let ours = try FileHashing.sha256(path: path)
        #expect(ours.size == 3_000_001)
        #expect(out.hasPrefix(ours.hex))
    }

    @Test func missingFileSaysWhatToDo() {
        let e = #expect(throws: BasicsError.self) { try FileHashing.sha256(path: "/nonexistent/x") }
        #expect(e?.description.contains("check the path") == true)
    }
}

struct RandomTests {
    @Test func splitMixReferenceSequence() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var r = SplitMix64(seed: 0)
        #expect(r.next() == 0xE220_A839_7B1D_CDAF)
        #expect(r.next() == 0x6E78_9E6A_A1B9_65F4)
    }
}

struct QueueTests {
    @Test func everyItemArrivesOnceAcrossConsumers() {
        let q = BoundedQueue<Int>(capacity: 3)
        let seen = ResultSlots<Int>(count: 1000)
        let lock = NSLock()
        let join = startThreads(3, name: "test") { _ in
            while let v = q.pop() {
                lock.lock()
                seen[v] = (seen[v] ?? 0) + 1
                lock.unlock()
            }
        }
        for i in 0..<1000 { q.push(i) }
        q.close()
        join()
        #expect(seen.values.allSatisfy { $0 == 1 })
    }

    @Test func parallelForVisitsEveryIndex() {
        let hits = ResultSlots<Bool>(count: 257)
        parallelFor(257, threads: 2) { hits[$0] = true }
        #expect(hits.values.allSatisfy { $0 == true })
    }
}

struct FormatTests {
    @Test func humanUnits() {
        #expect(Format.bytes(999) == "999 B")
        #expect(Format.bytes(1_500_000) == "1.5 MB")
        #expect(Format.duration(0.25) == "250 ms")
        #expect(Format.duration(75) == "1m15s")
    }
}
