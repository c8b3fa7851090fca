using Dapper;
using Microsoft.Data.Sqlite;

namespace Spectrum.Broker.State;

/// <summary>
/// The broker's SQLite file: opening it, checking it, and migrating its schema. WAL mode with
/// synchronous=FULL, so a transaction that returned is on disk whatever happens to the process
/// (kill -9 included) or to the machine.
/// </summary>
public sealed class BrokerDatabase
{
    /// <summary>The schema version this build writes. Frozen by a golden test; bump only by adding a migration.</summary>
    public const int SchemaVersion = 1;

    /// <summary>Migration i takes the schema from version i to i+1. Never edit one that shipped; add another.</summary>
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
        CREATE TABLE vms (
            name TEXT PRIMARY KEY,
            declared INTEGER NOT NULL,
            policy_file TEXT,
            created_at INTEGER NOT NULL) STRICT;
        CREATE TABLE grants (
            id TEXT PRIMARY KEY,
            vm TEXT NOT NULL,
            path TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('file', 'directory')),
            rights INTEGER NOT NULL,
            persistence TEXT NOT NULL CHECK (persistence IN ('persistent', 'session')),
            source TEXT NOT NULL CHECK (source IN ('policy', 'cli', 'portal', 'delegation')),
            source_detail TEXT,
            parent TEXT REFERENCES grants (id),
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            state TEXT NOT NULL CHECK (state IN ('active', 'stale', 'revoked', 'expired')),
            ended_at INTEGER,
            dev INTEGER,
            ino INTEGER,
            handle_type INTEGER,
            handle BLOB,
            parent_dev INTEGER,
            parent_ino INTEGER,
            parent_handle_type INTEGER,
            parent_handle BLOB) STRICT;
        CREATE INDEX grants_live ON grants (vm, path) WHERE state IN ('active', 'stale');
        CREATE INDEX grants_live_path ON grants (path) WHERE state IN ('active', 'stale');
        CREATE INDEX grants_parent ON grants (parent) WHERE parent IS NOT NULL;
        CREATE INDEX grants_expiry ON grants (expires_at) WHERE state = 'active' AND expires_at IS NOT NULL;
        CREATE TABLE grant_revocation_ids (
            rev_id BLOB NOT NULL,
            grant_id TEXT NOT NULL REFERENCES grants (id),
            PRIMARY KEY (rev_id, grant_id)) STRICT, WITHOUT ROWID;
        CREATE TABLE revocations (
            rev_id BLOB PRIMARY KEY,
            revoked_at INTEGER NOT NULL,
            actor TEXT NOT NULL) STRICT;
        CREATE TABLE once_nonces (
            nonce BLOB PRIMARY KEY,
            grant_id TEXT NOT NULL,
            used_at INTEGER NOT NULL) STRICT;
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            actor TEXT NOT NULL,
            vm TEXT,
            action TEXT NOT NULL,
            path TEXT,
            rights TEXT,
            grant_id TEXT,
            result TEXT NOT NULL,
            detail TEXT,
            prev_hash BLOB NOT NULL,
            hash BLOB NOT NULL) STRICT;
        CREATE INDEX audit_time ON audit (time);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """,
    ];

    private BrokerDatabase(string path, string connectionString)
    {
        Path = path;
        ConnectionString = connectionString;
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>Connection string for further connections (readers).</summary>
    public string ConnectionString { get; }

    /// <summary>
    /// Opens the database, creating it only when <paramref name="mayCreate"/> (a first start:
    /// no state yet), checks its integrity, and migrates it. Refuses, with a message that names the
    /// file and the fix, to open a corrupt file, a file from a newer broker, or to recreate a
    /// missing database over existing state.
    /// </summary>
    public static BrokerDatabase Open(string path, bool mayCreate)
    {
        var exists = File.Exists(path);
        if (!exists && !mayCreate)
        {
            throw new BrokerStartupException(
                $"the database {path} is missing, but the state folder holds a root key from an earlier start; restore broker.db from a backup, or remove root.key too to start with empty state");
        }

        PrivateFiles(path, create: !exists);
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = exists ? SqliteOpenMode.ReadWrite : SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        };
        var db = new BrokerDatabase(path, builder.ToString());
        try
        {
            using var connection = db.OpenConnection();
            var check = connection.ExecuteScalar<string>("PRAGMA quick_check");
            if (check != "ok")
            {
                throw new BrokerStartupException($"the database {path} is corrupt ({check}); restore it from a backup");
            }

            db.Migrate(connection);
        }
        catch (SqliteException e)
        {
            throw new BrokerStartupException($"cannot use the database {path}: {e.Message.TrimEnd('.')}; if it is corrupt, restore it from a backup (the broker never recreates it over data)", e);
        }

        return db;
    }

    /// <summary>
    /// The database and its -wal and -shm side files are 0600: they hold every grant and audit
    /// record. A new database is created empty 0600 before SQLite opens it, since SQLite gives the
    /// side files the mode of the database file (not of the umask); files an older broker left
    /// 0644 are narrowed to 0600 (their content is not touched).
    /// </summary>
    private static void PrivateFiles(string path, bool create)
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (create)
        {
            using var created = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = Private });
        }

        foreach (var file in (ReadOnlySpan<string>)[path, path + "-wal", path + "-shm"])
        {
            if (File.Exists(file) && (File.GetUnixFileMode(file) & ~Private) != 0)
            {
                File.SetUnixFileMode(file, Private);
            }
        }
    }

    /// <summary>Opens a connection with the per-connection settings every connection needs.</summary>
    public SqliteConnection OpenConnection()
    {
        var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        connection.Execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;");
        return connection;
    }

    /// <summary>The schema version recorded in the file.</summary>
    public static int ReadVersion(SqliteConnection connection) => connection.ExecuteScalar<int>("PRAGMA user_version");

    private void Migrate(SqliteConnection connection)
    {
        var version = ReadVersion(connection);
        if (version > SchemaVersion)
        {
            throw new BrokerStartupException(
                $"the database {Path} has schema version {version}, newer than this broker's {SchemaVersion}; run the newer broker, or restore a backup made by this version");
        }

        if (version == 0 && connection.ExecuteScalar<long>("SELECT count(*) FROM sqlite_master") > 0)
        {
            throw new BrokerStartupException($"the file {Path} is an SQLite database, but not the broker's; point --state-dir at another folder");
        }

        for (; version < SchemaVersion; version++)
        {
            using var tx = connection.BeginTransaction();
            connection.Execute(Migrations[version], transaction: tx);
            connection.Execute($"PRAGMA user_version = {version + 1}", transaction: tx);
            tx.Commit();
        }
    }
}

/// <summary>The broker cannot start; the message names the cause and the fix.</summary>
public sealed class BrokerStartupException(string message, Exception? inner = null) : Exception(message, inner);
