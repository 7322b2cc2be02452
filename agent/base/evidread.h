/*
 * The evidence log read back (evidence.h), for base/'s evidence files
 * only: its files, and the walk along the chain one line at a time.
 * evidence_verify() walks the whole log with these; evidence_open() walks
 * from the last file that holds a whole line, to continue the chain and
 * to find a torn last line.
 */
#ifndef VMCRYPT_EVIDREAD_H
#define VMCRYPT_EVIDREAD_H

#include <stddef.h>
#include <sys/types.h>

#include "evidence.h"

#define EVIDENCE_LINE_MAX	(1024 * 1024)	/* a record's line, newline not counted */
#define EVIDENCE_NAME_LEN	32		/* evidence-NNNNNN.jsonl */
#define EVIDENCE_ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* The hex SHA-256 of len bytes. */
void	evhash_hex(const void *data, size_t len, char out[65]);
/* "evidence-000042.jsonl" */
void	evfile_name(char name[EVIDENCE_NAME_LEN], unsigned num);
/* The numbers of dir's evidence-NNNNNN.jsonl files, ascending (malloc'd;
 * other names are left alone).  0 (no directory: none), or -1 with err. */
int	evfile_list(const char *dir, unsigned **nums, size_t *n, char *err, size_t errlen);
/* File num holds at least one whole line. */
int	evfile_has_whole_line(const char *dir, unsigned num);

/* A record's place and the hash of its line. */
struct evspot {
	char		 file[EVIDENCE_NAME_LEN];
	long		 no;
	long long	 seq;
	char		 hash[65];
};

struct evwalk {
	evidence_cb	 cb;
	void		*arg;
	int		 seeded;	/* prev/seq known (any record before) */
	struct evspot	 last;		/* the last good record */
	struct evspot	 before;	/* the one before it */
	char		 vcenter[256];
	/* a record whose prev did not match, waiting for the next line */
	int		 suspect;
	struct evspot	 sus;
	char		 sus_prev[65];
	/* the break */
	int		 broken;
	char		 bad_file[EVIDENCE_NAME_LEN];
	long		 bad_no;
	char		 why[768];
	int		 stopped;
	long long	 records;
};

/* Seeds w from file num's first record (a later file continues the one
 * before).  0, or -1 with err (unreadable). */
int	evwalk_seed(struct evwalk *w, const char *dir, unsigned num, char *err, size_t errlen);
/* Walks file num: 0 on, 1 stopped by w->cb, -1 broken (w->bad_*, w->why).
 * A last line without its newline: with torn_at, its offset, bytes and
 * length are given back (malloc'd) and the walk ends there; without, a
 * break. */
int	evwalk_file(struct evwalk *w, const char *dir, unsigned num, off_t *torn_at,
	    char **torn, size_t *torn_len);
/* The log ended: 0, or -1 (a mismatch with nothing after it). */
int	evwalk_end(struct evwalk *w);
/* The break as "DIR/FILE:LINE: why" (or "DIR/FILE: why"). */
void	evwalk_error(const struct evwalk *w, const char *dir, char *err, size_t errlen);

#endif
