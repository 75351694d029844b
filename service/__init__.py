"""A stateless SIOPv2 + OpenID4VP verifier (relying party) with signed verdict webhooks.

The flow, one module per step:

1. ``request_object`` — a backend asks for a presentation (``http/backend_routes``); the transaction is
   sealed (``transaction/seal``) into the request and response URIs; the wallet fetches a signed JAR.
2. ``response`` — the wallet posts ``id_token`` + ``vp_token`` + ``presentation_submission``.
3. ``verification`` — single use (``replay``), then the Self-Issued ID Token (``id_token``), each
   presentation and credential (``vp_formats``, keys from ``did`` and ``trust``), the submission against
   the definition (``presentation_exchange``), and holder binding across all of them.
4. ``verdict`` — a signed JWT with the result and only the requested claims.
5. ``webhook`` — delivered to the backend with Standard Webhooks headers and retries.

``app.create_app`` is the only composition root; ``http/`` is the only package that knows Litestar.
"""
