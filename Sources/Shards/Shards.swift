// Shards
