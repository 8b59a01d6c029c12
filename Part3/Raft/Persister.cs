// Saving the persistent state without writing the whole log every time: a checkpoint of the
// whole state now and then, and between checkpoints small records of what changed, each still
// one atomic write. What is saved, when and why is in PersistentState.cs.
using System.Diagnostics;

namespace Raft;

/// <summary>
/// Saves a CM's persistent state to storage and loads it back, writing only what changed.
/// Upstream encodes the whole log on every save, so each write costs more than the one before it
/// and a busy server slows down as its log grows. Here a save writes a checkpoint (the whole state,
/// under "raft") only once the records written since the last one add up to its size; otherwise it
/// writes one small record (under "raft.1", "raft.2", ...) with currentTerm, votedFor and the log
/// entries from the first one that changed. Either way a save is a single Set, so it is atomic:
/// a crash leaves storage as it was before the save or after it, never in between.
/// </summary>
internal sealed class Persister(IStorage storage)
{
    /// <summary>
    /// The most records after one checkpoint. Their bytes are bounded by the checkpoint's size
    /// already; this only bounds how many keys a restart reads. A busy leader writes a few thousand
    /// small records a second, so a low cap would bring back a whole-log write every second or so.
    /// </summary>
    private const int MaxRecords = 100_000;

    /// <summary>Records may add up to this much before a checkpoint, however small the checkpoint.</summary>
    private const long MinRecordBytes = 64 * 1024;

    /// <summary>The log as storage holds it: the same entry objects as the CM's log, up to the first change.</summary>
    private readonly List<LogEntry> _saved = [];

    /// <summary>The epoch of the checkpoint in storage; 0 before the first save.</summary>
    private int _epoch;

    /// <summary>How many records follow that checkpoint.</summary>
    private int _records;

    /// <summary>The size of the checkpoint, and of the records after it.</summary>
    private long _checkpointBytes, _recordBytes;

    /// <summary>The storage key of record <paramref name="n"/> (from 1).</summary>
    public static string RecordKey(int n) => $"{PersistentState.StorageKey}.{n}";

    /// <summary>
    /// Reads the checkpoint and the records of its epoch after it, in order, and returns the state
    /// they add up to. Records of an older epoch may still sit under later keys; they are ignored.
    /// </summary>
    /// <exception cref="InvalidDataException">The storage has no checkpoint, or holds something inconsistent.</exception>
    public PersistentState Load()
    {
        var (data, found) = storage.Get(PersistentState.StorageKey);
        if (!found || data is null)
        {
            throw new InvalidDataException($"storage has data but no '{PersistentState.StorageKey}' entry");
        }
        PersistentState checkpoint = PersistentState.Decode(data);
        if (checkpoint.From != 0)
        {
            throw new InvalidDataException($"stored Raft state is corrupt: the checkpoint starts at log index {checkpoint.From}, not 0");
        }
        int currentTerm = checkpoint.CurrentTerm;
        int votedFor = checkpoint.VotedFor;
        List<LogEntry> log = [.. checkpoint.Log];
        _epoch = checkpoint.Epoch;
        _checkpointBytes = data.Length;
        _records = 0;
        _recordBytes = 0;

        while (storage.Get(RecordKey(_records + 1)) is (byte[] recordData, true))
        {
            PersistentState record = PersistentState.Decode(recordData);
            if (record.Epoch != _epoch)
            {
                break;
            }
            if (record.From > log.Count)
            {
                throw new InvalidDataException($"stored Raft state is corrupt: record {_records + 1} starts at log index {record.From}, past the log's end at {log.Count}");
            }
            log.RemoveRange(record.From, log.Count - record.From);
            log.AddRange(record.Log);
            currentTerm = record.CurrentTerm;
            votedFor = record.VotedFor;
            _records++;
            _recordBytes += recordData.Length;
        }

        PersistentState.Validate(currentTerm, votedFor, log);
        _saved.Clear();
        _saved.AddRange(log);
        return new PersistentState(currentTerm, votedFor, log) { Epoch = _epoch };
    }

    /// <summary>Saves <paramref name="currentTerm"/>, <paramref name="votedFor"/> and <paramref name="log"/> with one write.</summary>
    /// <exception cref="ArgumentException">A command cannot be encoded.</exception>
    /// <exception cref="Exception">Whatever the storage throws; nothing is remembered as saved then.</exception>
    public void Save(int currentTerm, int votedFor, List<LogEntry> log)
    {
        // The CM changes its log only by cutting off a tail and appending, so the entries saved
        // last time that are still the very same objects form a prefix, already in storage.
        // Scanning back from its end costs what changed, not the whole log, on every save.
        int from = Math.Min(_saved.Count, log.Count);
        while (from > 0 && !ReferenceEquals(_saved[from - 1], log[from - 1]))
        {
            from--;
        }
        Debug.Assert(Enumerable.Range(0, from).All(i => ReferenceEquals(_saved[i], log[i])), "the log changed only at its tail");
        List<LogEntry> changed = log.GetRange(from, log.Count - from);

        if (_epoch == 0 || _records == MaxRecords || _recordBytes >= Math.Max(_checkpointBytes, MinRecordBytes))
        {
            // A new epoch makes every record of the old one stale at once, in the same single write.
            byte[] checkpoint = new PersistentState(currentTerm, votedFor, log) { Epoch = _epoch + 1 }.Encode();
            storage.Set(PersistentState.StorageKey, checkpoint);
            _epoch++;
            _records = 0;
            _recordBytes = 0;
            _checkpointBytes = checkpoint.Length;
        }
        else
        {
            byte[] record = new PersistentState(currentTerm, votedFor, changed) { Epoch = _epoch, From = from }.Encode();
            storage.Set(RecordKey(_records + 1), record);
            _records++;
            _recordBytes += record.Length;
        }
        _saved.RemoveRange(from, _saved.Count - from);
        _saved.AddRange(changed);
    }
}
