"""The proposal pricing engine (SPEC "Service Proposal & Pricing Model").

Pure domain: no gRPC, no SQL, no clock. Money is integer cents, hours are integer hundredths of
an hour and volumes and unit prices are `Decimal`, so every figure of the specification comes out
to the cent. Every price, rate and sizing constant lives in `tables`; the other modules only
combine them.
"""
