"""Service proposals: the questionnaire, priced proposals saved per client, and their documents.

`catalog` reads what the KPIs imply from the catalog service; `client_defaults` fills unset inputs
from the client's configuration; `choices` turns a request's inputs into validated pricing choices;
`questionnaire` builds the eight steps; `document` renders the proposal as Markdown and HTML and
`pdf` the issued Markdown as PDF; `store` keeps the versions in PostgreSQL; `access` says who sees
which proposals; `servicer`, `messages` and `proto_values` are the gRPC edge. The prices themselves
are in `services.config.pricing`.
"""
