// What an ingest recorded, without the fields that differ between two equal ingests (creation
// times), for comparing the records of two runs over the same sources.
import Store

/// The one corpus recorded in `db`, with its creation times blanked.
func recordedCorpus(_ db: TrackerDB) throws -> IngestedCorpus? {
    guard let row = try db.corpora().first, let c = try db.corpus(fingerprint: row.fingerprint) else { return nil }
    var same = c
    same.corpus.createdAt = ""
    same.tokenizer.createdAt = ""
    return same
}
