/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The BCP 47 form of a language tag as media containers write it. MP4 and Matroska store
 * ISO 639-2 codes ("eng", "ger", "deu"); RFC 5646 §2.2.1 takes the ISO 639-1 code where one
 * exists ("en", "de"), and a 3-letter code only for a language without one. MPD @lang
 * (ISO/IEC 23009-1 §5.3.7.2) and HLS LANGUAGE (RFC 8216 §4.3.4.1) are BCP 47 tags, and
 * players match the 2-letter form. Returns the 2-letter code for a 3-letter one that has it
 * (either of ISO 639-2's B and T forms, any case), else tag itself.
 */
const char *lang_bcp47(const char *tag);

/* tag (a buffer of cap bytes) rewritten in place to lang_bcp47()'s form. */
void lang_bcp47_in_place(char *tag, unsigned long cap);
