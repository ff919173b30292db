// Credentials must never reach Slurm: slurmctld keeps every job's script and environment
// (`scontrol write batch_script`, AccountingStoreFlags=job_script,job_env), readable by
// administrators and often copied into the accounting database.

public enum SlurmCredentials {
    /// Environment variables that carry secrets by name (matched case-insensitively as parts of
    /// the name) or by exact name (database URLs, which embed passwords).
    static let secretNameParts = ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "API_KEY", "PRIVATE_KEY"]
    static let secretNames: Set<String> = [
        "DATABASE_URL", "TRACKER_DATABASE_URL", "TRACKER_TEST_DATABASE_URL", "PGPASSFILE",
    ]

    /// `environment` without the variables that look like credentials, for the process that
    /// runs sbatch (the job inherits sbatch's environment).
    public static func scrubbed(_ environment: [String: String]) -> [String: String] {
        environment.filter { name, value in !isSecretName(name) && !looksLikeSecret(value) }
    }

    /// The variable's name says it holds a secret.
    public static func isSecretName(_ name: String) -> Bool {
        let upper = name.uppercased()
        return secretNames.contains(upper) || secretNameParts.contains { upper.contains($0) }
    }

    /// Text that holds a URL with a password (`scheme://user:password@host`) or a
    /// `password=...` assignment.
    public static func looksLikeSecret(_ text: String) -> Bool {
        let lower = text.lowercased()
        if lower.contains("password=") || lower.contains("passwd=") { return true }
        var rest = Substring(text)
        while let scheme = rest.range(of: "://") {
            let authority = rest[scheme.upperBound...].prefix { $0 != "/" && !$0.isWhitespace }
            if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") { return true }
            rest = rest[scheme.upperBound...]
        }
        return false
    }
}
