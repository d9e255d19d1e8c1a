/* SPDX-License-Identifier: MIT */
#pragma once

struct ctl_req;

/*
 * Route a request to its handler: method and path against the route table (router.c), the
 * admin bearer check for /v1/admin/, CORS preflight, 404/405. Path arguments ("*" segments)
 * must be 1..128 characters of [A-Za-z0-9._-] or the route does not match (404), so handlers
 * get ids that are safe in URLs, logs and token regexes.
 */
void router_dispatch(struct ctl_req *rq);
