//! The catalogue's schema, as numbered migrations.

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Never edit a released step: add a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE roots (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        display TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        last_scan_at INTEGER
    );

    CREATE TABLE videos (
        id INTEGER PRIMARY KEY,
        root_id INTEGER REFERENCES roots(id) ON DELETE SET NULL,
        path BLOB NOT NULL UNIQUE,
        display TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint BLOB,
        duration_ms INTEGER,
        container TEXT,
        codec TEXT,
        width INTEGER,
        height INTEGER,
        fps REAL,
        seekable INTEGER,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'gone')),
        error_stage TEXT,
        error TEXT,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX videos_fingerprint ON videos(fingerprint);
    CREATE INDEX videos_status ON videos(status);
    CREATE INDEX videos_root ON videos(root_id);

    -- Problems met while walking that belong to no video (unreadable folders, loops).
    CREATE TABLE scan_problems (
        id INTEGER PRIMARY KEY,
        root_id INTEGER REFERENCES roots(id) ON DELETE CASCADE,
        path BLOB NOT NULL,
        display TEXT NOT NULL,
        message TEXT NOT NULL,
        seen_at INTEGER NOT NULL
    );

    CREATE TABLE posters (
        video_id INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
        ts_ms INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        jpeg BLOB NOT NULL
    );

    -- One row per video and model: the per-video descriptor (mean of the frame
    -- features, re-normalised, f32) and the mean class probabilities (f16).
    CREATE TABLE embeddings (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        sampler TEXT NOT NULL,
        n_frames INTEGER NOT NULL,
        descriptor BLOB NOT NULL,
        class_probs BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (video_id, model)
    );

    -- Per sampled frame: L2-normalised feature (f16), top classes, small JPEG.
    CREATE TABLE frames (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        idx INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        feature BLOB NOT NULL,
        top_classes BLOB NOT NULL,
        thumb BLOB,
        PRIMARY KEY (video_id, model, idx)
    );

    CREATE TABLE clusters (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL COLLATE NOCASE UNIQUE,
        name_source TEXT NOT NULL CHECK (name_source IN ('auto', 'user')),
        concept TEXT,
        confidence REAL,
        kind TEXT NOT NULL DEFAULT 'normal' CHECK (kind IN ('normal', 'unsorted')),
        model TEXT,
        centroid BLOB,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );

    CREATE TABLE assignments (
        video_id INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
        cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        source TEXT NOT NULL CHECK (source IN ('auto', 'user')),
        distance REAL,
        assigned_at INTEGER NOT NULL
    );
    CREATE INDEX assignments_cluster ON assignments(cluster_id);

    -- What each clustering run chose and why.
    CREATE TABLE cluster_runs (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        k INTEGER NOT NULL,
        k_method TEXT NOT NULL,
        details TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    "#,
    // 2: the journal of changes made to the user's files (apply / undo).
    r#"
    CREATE TABLE apply_batches (
        id INTEGER PRIMARY KEY,
        mode TEXT NOT NULL CHECK (mode IN ('move', 'link', 'copy')),
        base BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done', 'undoing', 'undone')),
        created_at INTEGER NOT NULL,
        finished_at INTEGER
    );
    CREATE TABLE apply_ops (
        id INTEGER PRIMARY KEY,
        batch_id INTEGER NOT NULL REFERENCES apply_batches(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('mkdir', 'move', 'link', 'copy')),
        video_id INTEGER,
        src BLOB NOT NULL,
        dst BLOB NOT NULL,
        size INTEGER,
        mtime_ns INTEGER,
        existed_before INTEGER NOT NULL DEFAULT 0,
        how TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'undone', 'undo_failed')),
        error TEXT
    );
    CREATE INDEX apply_ops_batch ON apply_ops(batch_id, seq);
    "#,
    // 3: people's edits (for undo in the UI) and the stored 2-D maps.
    r#"
    CREATE TABLE edits (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        summary TEXT NOT NULL,
        undo TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        undone INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE map_points (
        kind TEXT NOT NULL CHECK (kind IN ('video', 'frame')),
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        x REAL NOT NULL,
        y REAL NOT NULL,
        PRIMARY KEY (kind, video_id, idx)
    );
    "#,
    // 4: learning from the library: the adapted head of each model (its training
    // checkpoint while it trains), and the suggestions a person turned down.
    r#"
    CREATE TABLE heads (
        model TEXT PRIMARY KEY,
        format INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('training', 'done')),
        step INTEGER NOT NULL,
        rng INTEGER NOT NULL,
        weights BLOB NOT NULL,
        details TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE rejections (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (video_id, cluster_id)
    );
    "#,
    // 5: the dense frame index (frames at a fixed rate as compact codes) for finding
    // duplicates and the source of a clip.
    r#"
    CREATE TABLE dense_frames (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        fps REAL NOT NULL,
        n INTEGER NOT NULL,
        times BLOB NOT NULL,
        codes BLOB NOT NULL,
        informative BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (video_id, model)
    );
    "#,
    // 6: each dense frame's layout (brightness on a 16 × 16 grid), which survives
    // heavy compression; rows from before it are indexed again.
    r#"
    ALTER TABLE dense_frames ADD COLUMN layouts BLOB;
    "#,
];
