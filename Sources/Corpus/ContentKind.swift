// Deciding what a file or entry is without trusting it: magic bytes for archives and compressed
// streams, extension lists for binary formats, and a content sniff for binary data.

/// How a source file is read.
enum SourceKind: Equatable {
    /// Text (or binary) read straight from the file, without libarchive.
    case plain
    /// An archive format libarchive reads (tar, zip, 7z, ...), possibly compressed.
    case archive
    /// A compressed stream: an archive inside, or a single file (libarchive's `raw` format).
    case compressed
}

enum ContentKind {
    /// Bytes to read from the start of a file for `detect` (tar's magic sits at offset 257).
    static let magicLength = 512

    /// Classifies a file from its first bytes; `name` only helps for formats without magic.
    static func detect(_ head: UnsafeRawBufferPointer, name: String) -> SourceKind {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            guard head.count >= offset + magic.count else { return false }
            for (k, m) in magic.enumerated() where head[offset + k] != m { return false }
            return true
        }
        let compressed: [[UInt8]] = [
            [0x1F, 0x8B],  // gzip
            [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00],  // xz
            [0x42, 0x5A, 0x68],  // bzip2 "BZh"
            [0x28, 0xB5, 0x2F, 0xFD],  // zstd
            [0x04, 0x22, 0x4D, 0x18],  // lz4
            [0x1F, 0x9D],  // compress (.Z)
            [0x4C, 0x5A, 0x49, 0x50],  // lzip "LZIP"
        ]
        if compressed.contains(where: { starts($0) }) { return .compressed }
        let archives: [[UInt8]] = [
            [0x50, 0x4B, 0x03, 0x04], [0x50, 0x4B, 0x05, 0x06], [0x50, 0x4B, 0x07, 0x08],  // zip
            [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C],  // 7z
            Array("Rar!\u{1A}\u{07}".utf8),  // rar, rar5
            Array("!<arch>\n".utf8),  // ar
            Array("xar!".utf8), Array("MSCF".utf8),  // xar, cab
            Array("070707".utf8), Array("070701".utf8), Array("070702".utf8),  // cpio (odc, newc, crc)
            [0xC7, 0x71], [0x71, 0xC7],  // binary cpio
        ]
        if archives.contains(where: { starts($0) }) { return .archive }
        if starts(Array("ustar".utf8), at: 257) { return .archive }
        let ext = fileExtension(name)
        if ["tar", "iso", "lha", "lzh", "warc"].contains(ext) { return .archive }
        return .plain
    }

    /// Lowercased extension of the last path component ("" when none).
    static func fileExtension(_ path: String) -> String {
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return name[name.index(after: dot)...].lowercased()
    }

    /// The name of a single compressed file's content: `notes.txt.gz` -> `notes.txt`.
    static func decompressedName(_ path: String) -> String {
        let name = String(path.split(separator: "/").last ?? "")
        let ext = fileExtension(name)
        guard compressionExtensions.contains(ext) else { return name }
        return String(name.dropLast(ext.count + 1))
    }

    static func isJSONL(_ name: String) -> Bool {
        let ext = fileExtension(name)
        return ext == "jsonl" || ext == "ndjson"
    }

    static let compressionExtensions: Set<String> = ["gz", "xz", "bz2", "zst", "lz4", "z", "lz", "lzma"]

    /// Archive and compressed formats: read when given as a file, skipped when nested in an archive.
    static let archiveExtensions: Set<String> = compressionExtensions.union([
        "tar", "tgz", "tbz", "tbz2", "txz", "tzst", "zip", "7z", "rar", "cpio", "ar", "iso", "cab", "xar",
        "lha", "lzh", "warc",
    ])

    /// Formats that are never text (containers like docx and jar are zip files full of markup or code).
    static let binaryExtensions: Set<String> = [
        "png", "jpg", "jpeg", "gif", "bmp", "ico", "icns", "webp", "tif", "tiff", "psd", "heic", "avif", "svgz",
        "pdf", "ps", "eps", "djvu", "epub", "mobi", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods",
        "odp", "rtf",
        "exe", "dll", "so", "dylib", "o", "a", "lib", "obj", "class", "jar", "war", "pyc", "pyo", "wasm", "elf",
        "bin", "deb", "rpm", "apk", "ipa", "dmg", "msi", "whl", "egg", "crx", "xpi",
        "mp3", "mp4", "m4a", "m4v", "aac", "wav", "flac", "ogg", "oga", "opus", "avi", "mov", "mkv", "webm",
        "wmv", "mpg", "mpeg",
        "ttf", "otf", "woff", "woff2", "eot",
        "sqlite", "sqlite3", "db", "mdb", "parquet", "arrow", "feather", "npy", "npz", "pt", "pth", "ckpt",
        "safetensors", "onnx", "pkl", "pickle", "h5", "hdf5", "tfrecord", "gguf",
    ]

    /// True when the first bytes look binary: a NUL byte, or more than 10% control bytes other
    /// than tab, newline, form feed, carriage return and escape. Words of 8 bytes without any
    /// byte below 0x20 or equal to 0x7F (most of any text) are skipped in one test.
    static func looksBinary(_ head: UnsafeRawBufferPointer) -> Bool {
        guard let base = head.baseAddress else { return false }
        let n = head.count
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var control = 0
        var i = 0
        while i < n {
            if i + 8 <= n {
                let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let below20 = (w &- ones &* 0x20) & ~w & highs
                let del = ((w ^ (ones &* 0x7F)) &- ones) & ~(w ^ (ones &* 0x7F)) & highs
                if below20 | del == 0 {
                    i += 8
                    continue
                }
            }
            let end = min(i + 8, n)
            while i < end {
                let b = base.load(fromByteOffset: i, as: UInt8.self)
                if b == 0 { return true }
                if (b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0C && b != 0x0D && b != 0x1B) || b == 0x7F {
                    control += 1
                }
                i += 1
            }
        }
        return control * 10 > n
    }

    /// How many leading bytes `looksBinary` inspects.
    static let sniffLength = 8192
}
