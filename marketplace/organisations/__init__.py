"""Organisations: ICBs, trusts, innovators, the central assessor and funders, by ODS code
or Companies House number; ICB membership and mergers."""
