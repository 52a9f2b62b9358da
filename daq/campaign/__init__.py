"""The lab's whole workflow as one campaign: samples → press → peel → aging → peel → laser.

``daq.campaign.model`` reads the campaign file, ``daq.campaign.plan`` turns it into
ordered steps, ``daq.campaign.state`` keeps their progress in the database and
``daq.campaign.runner`` carries them out through a :class:`daq.station.lab.Lab`.
"""
