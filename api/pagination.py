"""Pagination: pages for short lists, cursors for the long, growing ones (findings, events).

A cursor page costs the same however deep it is and never repeats or skips a row while new rows
arrive; page numbers suit lists that people browse and count (hosts, rollouts).
"""

from rest_framework.pagination import CursorPagination, PageNumberPagination

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class Pages(PageNumberPagination):
    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class Cursor(CursorPagination):
    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-id"
