// The public entry points: expand paths into source files, and stream the documents of one source
// (a plain file read directly, or an archive/compressed file read through libarchive).
#if canImport(Glibc)
    import Glibc
#endif

public enum CorpusScanner {
    /// Expands directories (recursively, in sorted order), checks every path exists and is
    /// readable (throws otherwise), and returns the files sorted by path, each once. Inside a
    /// folder, symlinks to folders, dangling symlinks, fifos, sockets and devices are left out.
    public static func sources(for paths: [String]) throws -> [SourceFile] {
        try listSources(for: paths).files
    }

    /// The files of `paths` (as `sources(for:)`), and warnings about what was left out that the
    /// user would miss: the folder `skipping` (the workspace, whose tokenizers and files would
    /// otherwise be read as documents once it lies in an input folder) and file names that are
    /// not UTF-8 (a path is a String here: such a name cannot be opened).
    public static func listSources(for paths: [String], skipping: String? = nil) throws -> SourceListing {
        var walk = Walk()
        var st = stat()
        if let skipping, stat(skipping, &st) == 0, st.st_mode & S_IFMT == S_IFDIR {
            walk.skipped = (st.st_dev, st.st_ino)
        }
        for path in paths {
            try collect(path, explicit: true, into: &walk)
        }
        walk.files.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return SourceListing(files: walk.files, warnings: walk.warnings)
    }

    /// Streams the documents of one source to `body`, in a deterministic order. `progress` gets the
    /// compressed bytes consumed so far. Reentrant: two sources can be read on two threads.
    public static func read(
        _ source: SourceFile, options: CorpusOptions, progress: ((Int64) -> Void)?,
        _ body: (Document) throws -> Void
    ) throws -> CorpusStats {
        let emitter = DocumentEmitter(options: options, source: source.path)
        do {
            try readSource(source.path, emitter: emitter, progress: progress, body: body)
        } catch let error as CallerError {
            throw error.error
        } catch let error as CorpusError {
            guard options.continueOnError else { throw error }
            emitter.stats.failedSources += 1
            emitter.stats.warningCount += 1
            emitter.stats.warnings.append("\(error.warning) (rest of the source skipped: continuing on error)")
        }
        return emitter.stats
    }

    private static func readSource(
        _ path: String, emitter: DocumentEmitter, progress: ((Int64) -> Void)?, body: (Document) throws -> Void
    ) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { throw CorpusError.notFound(path: path) }
            throw CorpusError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw CorpusError.notRegularFile(path: path)
        }
        let buffer = emitter.buffer
        let got = pread(fd, buffer.base, ContentKind.magicLength, 0)
        if got < 0 { throw CorpusError.io(path: path, reason: String(cString: strerror(errno))) }
        let kind = ContentKind.detect(UnsafeRawBufferPointer(start: buffer.base, count: got), name: path)
        if kind != .plain {
            try ArchiveReader.read(
                fd: fd, fileSize: Int64(st.st_size), kind: kind, emitter: emitter, progress: progress, body: body)
            return
        }
        emitter.stats.entriesSeen += 1
        let options = emitter.options
        if !PathFilter(include: options.include, exclude: options.exclude).accepts(path) {
            emitter.stats.skippedFiltered += 1
            return
        }
        if options.skipBinary && ContentKind.binaryExtensions.contains(ContentKind.fileExtension(path)) {
            emitter.stats.skippedBinaryName += 1
            return
        }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        var chunks = FileChunks(fd: fd, path: path, progress: progress)
        defer {
            emitter.stats.compressedBytes = chunks.bytesRead
            emitter.stats.uncompressedBytes = chunks.bytesRead
        }
        try emitter.consume(
            &chunks, entry: "", jsonl: ContentKind.isJSONL(path), sizeHint: Int64(st.st_size), body: body)
    }

    /// What a walk of the input paths found so far.
    private struct Walk {
        var files: [SourceFile] = []
        var seen = Set<String>()
        var warnings: [String] = []
        /// Device and inode of the folder not to walk into.
        var skipped: (dev: UInt, ino: UInt)?
    }

    private static func collect(_ path: String, explicit: Bool, into walk: inout Walk) throws {
        var st = stat()
        if !explicit {
            guard lstat(path, &st) == 0 else { return }
            if st.st_mode & S_IFMT == S_IFLNK {
                guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return }
            }
        } else if stat(path, &st) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw CorpusError.notFound(path: path) }
            throw CorpusError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            guard access(path, R_OK) == 0 else {
                throw CorpusError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            let key = canonical(path)
            if walk.seen.insert(key).inserted { walk.files.append(SourceFile(path: path, size: Int64(st.st_size))) }
        case S_IFDIR:
            if let skipped = walk.skipped, skipped.dev == UInt(st.st_dev), skipped.ino == UInt(st.st_ino) {
                walk.warnings.append("\(path): the workspace (--home), not read as part of the corpus")
                return
            }
            let prefix = path.hasSuffix("/") ? path : path + "/"
            let (names, unreadable) = try listDirectory(path)
            for name in unreadable {
                walk.warnings.append(
                    "\(path): the file name '\(name)' is not valid UTF-8 and was not read: rename the file")
            }
            for name in names {
                try collect(prefix + name, explicit: false, into: &walk)
            }
        default:
            if explicit { throw CorpusError.notRegularFile(path: path) }
        }
    }

    /// The names in a directory, sorted by bytes, and the names that are not UTF-8 (with their
    /// bad bytes as U+FFFD), which a String path cannot name: `String(cString:)` made them
    /// another name, which then failed lstat and was dropped without a word.
    private static func listDirectory(_ path: String) throws -> (names: [String], notUTF8: [String]) {
        guard let dir = opendir(path) else {
            let code = errno
            if code == ENOENT { throw CorpusError.notFound(path: path) }
            throw CorpusError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { closedir(dir) }
        var names: [String] = []
        var notUTF8: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: &ent.pointee.d_name) { raw -> String? in
                String(validatingCString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard let name else {
                notUTF8.append(
                    withUnsafeBytes(of: &ent.pointee.d_name) {
                        String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
                    })
                continue
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return (
            names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) },
            notUTF8.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        )
    }

    private static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// The files of a source listing, and warnings about what it left out.
public struct SourceListing: Sendable {
    public var files: [SourceFile]
    public var warnings: [String]
}

/// A plain file's bytes, read with read(2) in the biggest chunks the document buffer allows.
struct FileChunks: ChunkSource {
    let fd: Int32
    let path: String
    let progress: ((Int64) -> Void)?
    var bytesRead: Int64 = 0

    mutating func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n >= 0 {
                bytesRead += Int64(n)
                if n > 0 { progress?(bytesRead) }
                return n
            }
            if errno != EINTR { throw CorpusError.io(path: path, reason: String(cString: strerror(errno))) }
        }
    }

    mutating func skipRest() throws {}
}
