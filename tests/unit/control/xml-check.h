/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A small XML well-formedness check for the MPD tests (no libxml2 needed): one root element,
 * balanced tags, quoted attributes without duplicates, only the five predefined entities or
 * numeric references, no raw '<' or '&' in text or attributes, and every element/attribute
 * prefix declared with xmlns:<prefix> on the root. Returns NULL when fine, else a reason.
 */

#include <string.h>

#define XML_CHECK_DEPTH 32

static inline int xml_name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.' || c == ':';
}

/* Entity or character reference at p ('&'); returns its length or 0. */
static inline size_t xml_ref(const char *p)
{
        static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
        for (size_t i = 0; i < 5; i++)
                if (strncmp(p, ents[i], strlen(ents[i])) == 0)
                        return strlen(ents[i]);
        if (p[1] == '#') {
                size_t n = 2;
                while (p[n] >= '0' && p[n] <= '9')
                        n++;
                return n > 2 && p[n] == ';' ? n + 1 : 0;
        }
        return 0;
}

static inline int xml_prefix_ok(const char *root_start, const char *name, size_t len)
{
        const char *colon = memchr(name, ':', len);
        if (!colon)
                return 1;
        size_t pl = (size_t)(colon - name);
        if (pl == 5 && strncmp(name, "xmlns", 5) == 0)
                return 1;
        char decl[64];
        if (pl + 8 >= sizeof(decl))
                return 0;
        memcpy(decl, "xmlns:", 6);
        memcpy(decl + 6, name, pl);
        decl[6 + pl] = '=';
        decl[7 + pl] = '\0';
        const char *end = strchr(root_start, '>');
        const char *hit = strstr(root_start, decl);
        return hit && end && hit < end;
}

static inline const char *xml_check(const char *s)
{
        const char *stack[XML_CHECK_DEPTH];
        size_t slen[XML_CHECK_DEPTH];
        size_t depth = 0;
        int roots = 0;
        const char *root = NULL;
        const char *p = s;
        if (strncmp(p, "<?xml ", 6) == 0) {
                p = strstr(p, "?>");
                if (!p)
                        return "unterminated declaration";
                p += 2;
        }
        while (*p) {
                if (*p == '&') {
                        size_t n = xml_ref(p);
                        if (!n)
                                return "bad reference in text";
                        p += n;
                        continue;
                }
                if (*p == '>')
                        return "raw > in text is allowed but not expected from us";
                if (*p != '<') {
                        if (depth == 0 && *p != '\n' && *p != ' ')
                                return "text outside the root";
                        p++;
                        continue;
                }
                p++;
                int closing = *p == '/';
                if (closing)
                        p++;
                const char *name = p;
                while (xml_name_char(*p))
                        p++;
                size_t nl = (size_t)(p - name);
                if (nl == 0)
                        return "empty element name";
                if (closing) {
                        if (*p != '>')
                                return "junk in end tag";
                        if (depth == 0 || slen[depth - 1] != nl ||
                            strncmp(stack[depth - 1], name, nl) != 0)
                                return "mismatched end tag";
                        depth--;
                        p++;
                        continue;
                }
                if (depth == 0) {
                        if (roots++)
                                return "more than one root";
                        root = name;
                }
                if (!xml_prefix_ok(root, name, nl))
                        return "undeclared element prefix";
                const char *attrs[64];
                size_t alen[64], na = 0;
                for (;;) {
                        while (*p == ' ' || *p == '\n')
                                p++;
                        if (*p == '/' && p[1] == '>') {
                                p += 2;
                                break;
                        }
                        if (*p == '>') {
                                if (depth == XML_CHECK_DEPTH)
                                        return "too deep";
                                stack[depth] = name;
                                slen[depth++] = nl;
                                p++;
                                break;
                        }
                        const char *an = p;
                        while (xml_name_char(*p))
                                p++;
                        size_t anl = (size_t)(p - an);
                        if (!anl || *p != '=' || p[1] != '"')
                                return "bad attribute";
                        if (!xml_prefix_ok(root, an, anl))
                                return "undeclared attribute prefix";
                        for (size_t i = 0; i < na; i++)
                                if (alen[i] == anl && strncmp(attrs[i], an, anl) == 0)
                                        return "duplicate attribute";
                        if (na == 64)
                                return "too many attributes";
                        attrs[na] = an;
                        alen[na++] = anl;
                        p += 2;
                        while (*p && *p != '"') {
                                if (*p == '<')
                                        return "raw < in attribute";
                                if (*p == '&') {
                                        size_t n = xml_ref(p);
                                        if (!n)
                                                return "bad reference in attribute";
                                        p += n;
                                        continue;
                                }
                                p++;
                        }
                        if (*p != '"')
                                return "unterminated attribute";
                        p++;
                        if (*p != ' ' && *p != '/' && *p != '>' && *p != '\n')
                                return "no space after attribute";
                }
        }
        if (depth)
                return "unclosed element";
        if (!roots)
                return "no root";
        return NULL;
}
