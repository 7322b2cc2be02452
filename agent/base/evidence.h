/*
 * The evidence log: what the agent saw and did to each VM, kept in its
 * state directory for as long as an auditor needs it (vCenter prunes its
 * own events after 30 days; the agent's log rotates).  Append-only JSON
 * lines, one record each, every record carrying the SHA-256 of the one
 * before it, so an edit, a deletion, a swap or a truncation breaks the
 * chain where it happened.
 *
 * Files: DIR/evidence-NNNNNN.jsonl (NNNNNN from 000001), a new one when
 * the current one passes max_bytes; the chain goes on across files (a
 * file's first record carries the hash of the previous file's last).
 *
 * A record (one line, keys in this order, absent values omitted):
 *   "v"        1
 *   "seq"      its number in the chain, from 1, across files
 *   "prev"     hex SHA-256 of the previous record's line (without its
 *              newline); 64 zeros for the first record of a chain
 *   "at"       the agent's clock, UTC, "2026-12-07T18:00:00.123Z"
 *   "kind"     "open" (an agent run began writing: version), "state" (a
 *              VM's state changed), "action" (a reconfigure: issued, done
 *              or failed), "torn" (a torn last line found at open: its
 *              bytes kept, base64, and its length), "close" (a clean stop)
 *   "agent"    the agent's identity (host:state-dir#id)
 *   "vcenter"  vCenter's instanceUuid; "vc_url" its URL
 *   "vc_time"  vCenter's time of the fact (an event's createdTime, a
 *              task's completeTime), when known
 *   "vm", "uuid", "name", "created"   moref, instanceUuid, name, config.createDate
 *   "old", "new", "code", "reason"   states (vm_state_name) and the reason
 *   "actions", "result", "task", "fault"   what a reconfigure did; result
 *              "issued", "done" or "failed"
 *   "provider", "key_id"   the key's provider and id (never key material)
 *   "replaces" a rekey's old key id (the key it took off the VM)
 *   "text", "bytes"        a torn record's content (base64) and length
 *   "version"  the agent's version ("open")
 *
 * Writing: one writer per state directory (the state directory is locked).
 * evidence_append() may be called from any thread (a mutex orders the
 * records and their hashes); it buffers.  evidence_flush() writes and
 * fdatasync()s everything appended so far; a caller that must not count
 * an action as done before its record is on disk calls it first.
 */
#ifndef VMCRYPT_EVIDENCE_H
#define VMCRYPT_EVIDENCE_H

#include <stddef.h>

#define EVIDENCE_VERSION	1
#define EVIDENCE_MAX_BYTES	(64L * 1024 * 1024)	/* per file, by default */

/* One record's fields (NULL or "" absent; ints below 0 absent). */
struct evrec {
	const char	*kind;
	const char	*vc_time;
	const char	*vm, *uuid, *name, *created;
	const char	*old, *new_, *code, *reason;
	const char	*actions, *result, *task, *fault;
	const char	*provider, *key_id, *replaces;
	const char	*version;
};

struct evidence;

/*
 * Opens (creating dir and the first file if needed) the log in dir for
 * appending, continuing the chain of what is there.  A torn last line
 * (a write cut short by SIGKILL or a crash) is cut off the file and kept
 * as a "torn" record, said in *note (not an error).  identity, vcenter
 * (instanceUuid) and vc_url go into every record.  NULL with err on a log
 * that cannot be continued: a broken chain (file:line and why), a record
 * of another vCenter, an unreadable or unwritable file.
 */
struct evidence	*evidence_open(const char *dir, const char *identity, const char *vcenter,
		    const char *vc_url, long max_bytes, char *note, size_t notelen,
		    char *err, size_t errlen);
/* Buffers one record (thread-safe).  Returns its seq. */
long long	 evidence_append(struct evidence *, const struct evrec *);
/* Writes and fdatasync()s what was appended (thread-safe; one at a time):
 * 0, or -1 with err (the records stay buffered for the next flush). */
int		 evidence_flush(struct evidence *, char *err, size_t errlen);
/* The chain's head: the last record's seq and hash (hex). */
/* Bytes appended and not yet written. */
size_t		 evidence_pending(struct evidence *);
void		 evidence_head(struct evidence *, long long *seq, char hash[65]);
/* Flushes and closes (safe on NULL). */
void		 evidence_close(struct evidence *);

/* ---------------------------------------------------------------- */
/* reading and checking                                               */

/* Called per record in chain order, with the parsed line (a json-c
 * object, valid during the call), its file and line number. */
struct json_object;
typedef int (*evidence_cb)(void *arg, struct json_object *rec, const char *file,
    long line);

/*
 * Reads every file of the log in dir in order, checking the chain: each
 * line parses, "v" is known, "seq" follows, "prev" is the hash of the
 * line before (across files), one vCenter throughout.  cb (may be NULL)
 * sees each good record.  Returns 0 when the whole chain holds; -1 with
 * *bad_file / *bad_line (the first record that breaks it) and why in
 * err.  *head_seq and head_hash (if not NULL) get the last good record's.
 */
int	evidence_verify(const char *dir, evidence_cb cb, void *arg, char *bad_file,
	    size_t bad_file_len, long *bad_line, long long *head_seq, char head_hash[65],
	    char *err, size_t errlen);

/* The same for a reader beside the running agent: the last file's last
 * line, while it is being written (no newline yet), ends the walk instead
 * of breaking it.  0, or -1 with err. */
int	evidence_read_live(const char *dir, evidence_cb cb, void *arg, char *err,
	    size_t errlen);

#endif
