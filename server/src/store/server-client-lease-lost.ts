/**
 * [STORE-42] An exclusive write fenced by a server client ID lease (ExclusiveRequest.serverClient)
 * whose lease is no longer the holder's: it lapsed and another node took the ID, or it was
 * released. Nothing was written; the room holding it must stop writing under that ID (it reloads
 * and takes another lease).
 */
export class ServerClientLeaseLost extends Error {}
