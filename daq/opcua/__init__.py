"""OPC UA side of the data plane: the station's live values, statuses, alarms and active
run as a read-only OPC UA server (asyncua) for a plant's SCADA/MES, on with
``DAQ_OPCUA_URL`` (see docs/opcua.md)."""
